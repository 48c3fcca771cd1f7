#!/usr/bin/env bash
# Builds the HTTPS peer benchmark (issue 5) in release mode and runs all of
# it, printing markdown (the source of the tables in docs/benchmarks.md,
# section "HTTPS: new connection and keep-alive, against the peers"):
# the machine and versions, then CPU, allocations and wall time per GET,
# new connection and keep-alive, for roundtrip, ureq, hyper + hyper-rustls,
# libcurl and the bare rustls floor, then the target verdicts.
#
# Needs Debian's nginx-light (/usr/sbin/nginx, or NGINX=path), and for the
# curl crate the system libcurl (OpenSSL flavour) with pkg-config.
# Then the new-connection workload again with nginx sending the TLS 1.3
# tickets it cannot honour (`--useless-tickets`, see src/nginx.rs), unless
# VARIANT=0.
# Environment: NEW (requests per round, new connections; default 500),
# KEEPALIVE (10000), ROUNDS (11), WARMUP_NEW (30), WARMUP_KEEPALIVE (500),
# PEERS (all: roundtrip,ureq,hyper,curl,floor), EXTRA (more arguments for
# `peers`, e.g. --useless-tickets), CARGO_TARGET_DIR (default
# benches/peers/target), COMMIT (the roundtrip commit to print, when the
# tree is not a git checkout). Run by hand only; nothing here belongs in
# `cargo test` or CI.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
nginx="${NGINX:-/usr/sbin/nginx}"

missing=()
[ -x "$nginx" ] || missing+=(nginx-light)
command -v pkg-config >/dev/null || missing+=(pkg-config)
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "run.sh: missing ${missing[*]}; install with:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light pkg-config libcurl4-openssl-dev libssl-dev" >&2
    exit 1
fi

cargo build --release --quiet --bin peers
bin="$CARGO_TARGET_DIR/release/peers"

commit="${COMMIT:-$(git -C "$here/../.." rev-parse --short HEAD 2>/dev/null || echo unknown)}"
dirty="$( (git -C "$here/../.." status --porcelain -- src Cargo.toml 2>/dev/null || true) | awk '{print $2}' | tr '\n' ' ')"
if [ -n "$dirty" ]; then
    commit="$commit, with uncommitted changes to: ${dirty% }"
fi
version() { cargo tree --quiet --depth 1 -e normal 2>/dev/null | grep -m1 " $1 v" | sed 's/^[^a-z]*//'; }

echo "### Machine"
echo
echo "- cores (nproc): $(nproc); load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "- kernel: $(uname -r)"
echo "- server: $("$nginx" -v 2>&1 | sed 's/^nginx version: //'), $(openssl version 2>/dev/null || echo 'OpenSSL ?')"
echo "- $(rustc --version)"
echo "- clients: roundtrip $commit; $(version ureq); $(version hyper); $(version hyper-util); $(version hyper-rustls); $(version rustls) (ring); libcurl $(pkg-config --modversion libcurl) through $(version curl)"
echo
"$bin" --new "${NEW:-500}" --keepalive "${KEEPALIVE:-10000}" --rounds "${ROUNDS:-11}" \
    --warmup-new "${WARMUP_NEW:-30}" --warmup-keepalive "${WARMUP_KEEPALIVE:-500}" \
    --peers "${PEERS:-roundtrip,ureq,hyper,curl,floor}" ${EXTRA:-}
if [ "${VARIANT:-1}" != 0 ]; then
    echo
    echo "### Variant: nginx sends TLS 1.3 session tickets it cannot honour"
    echo
    "$bin" --new "${NEW:-500}" --rounds "${ROUNDS:-11}" --warmup-new "${WARMUP_NEW:-30}" \
        --peers "${PEERS:-roundtrip,ureq,hyper,curl,floor}" --workloads new --useless-tickets ${EXTRA:-}
fi
