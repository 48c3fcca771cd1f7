#!/usr/bin/env bash
# Issue 9's benchmark against the peers, in one command: builds the suite
# and the peers' minimal GET binaries in release mode, runs every workload
# (see src/suite/main.rs), and rewrites the generated part of
# docs/benchmarks.md (between `<!-- suite:begin -->` and
# `<!-- suite:end -->`) and the chart docs/benchmarks-peers.svg.
#
# Needs Debian's nginx-light (/usr/sbin/nginx, or NGINX=path), strace,
# curl, and for the curl crate the system libcurl (OpenSSL flavour) with
# pkg-config.
# Environment: ROUNDS (7), KEEPALIVE (GETs per child, 20000), NEW (500),
# BIG (downloads per child, 1), CONCURRENT (batches per child, 3),
# CHUNKED (300), CONCURRENCY (GETs per batch, 1000), BIG_MIB (256),
# WORKLOADS (all: keepalive,new,big,concurrent,chunked), STRACE=0 to skip
# the system-call counts, OUT (default docs/benchmarks.md; OUT=- prints the
# section instead), CARGO_TARGET_DIR (default benches/peers/target),
# COMMIT (the roundtrip commit to print when the tree is not a git
# checkout). Run by hand only; nothing here belongs in `cargo test` or CI.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
nginx="${NGINX:-/usr/sbin/nginx}"

missing=()
[ -x "$nginx" ] || missing+=(nginx-light)
command -v strace >/dev/null || missing+=(strace)
command -v curl >/dev/null || missing+=(curl)
command -v pkg-config >/dev/null || missing+=(pkg-config)
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "run-suite.sh: missing ${missing[*]}; install with:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light strace curl pkg-config libcurl4-openssl-dev libssl-dev" >&2
    exit 1
fi

cargo build --release --quiet --bin suite --examples
bin="$CARGO_TARGET_DIR/release/suite"

commit="${COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
dirty="$( (git -C "$root" status --porcelain -- src Cargo.toml 2>/dev/null || true) | awk '{print $2}' | tr '\n' ' ')"
if [ -n "$dirty" ]; then
    commit="$commit, with uncommitted changes to: ${dirty% }"
fi

out="${OUT:-$root/docs/benchmarks.md}"
section="$(mktemp)"
trap 'rm -f "$section"' EXIT
args=(--rounds "${ROUNDS:-7}" --keepalive "${KEEPALIVE:-20000}" --new "${NEW:-500}"
    --big "${BIG:-1}" --concurrent "${CONCURRENT:-3}" --chunked "${CHUNKED:-300}"
    --concurrency "${CONCURRENCY:-1000}" --big-mib "${BIG_MIB:-256}"
    --workloads "${WORKLOADS:-keepalive,new,big,concurrent,chunked}"
    --examples "$CARGO_TARGET_DIR/release/examples" --commit "$commit"
    --md "$section" --svg "$root/docs/benchmarks-peers.svg" --svg-link benchmarks-peers.svg)
[ "${STRACE:-1}" = 0 ] && args+=(--no-strace)
"$bin" "${args[@]}"

if [ "$out" = - ]; then
    cat "$section"
    exit 0
fi
if ! grep -q '^<!-- suite:begin -->$' "$out" || ! grep -q '^<!-- suite:end -->$' "$out"; then
    echo "run-suite.sh: $out has no <!-- suite:begin --> / <!-- suite:end --> markers" >&2
    exit 1
fi
# Replace what is between the markers with the new section.
awk -v sec="$section" '
    /^<!-- suite:begin -->$/ { print; while ((getline line < sec) > 0) print line; skip = 1; next }
    /^<!-- suite:end -->$/ { skip = 0 }
    !skip { print }
' "$out" > "$out.new"
mv "$out.new" "$out"
echo "run-suite.sh: wrote $out and $root/docs/benchmarks-peers.svg" >&2
