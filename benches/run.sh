#!/usr/bin/env bash
# Builds the keep-alive benchmark in release mode and runs all of it,
# printing markdown (the source of the tables in docs/benchmarks.md):
#
#   1. the machine and versions;
#   2. `keepalive`: CPU, wall time, heap allocations and bytes per GET,
#      median of ROUNDS rounds of REQUESTS requests, with and without hooks;
#   3. `keepalive --strace`: system calls per GET, by name;
#   4. `core_driver`: the same GET through `Client` and through the sans-IO
#      core driven by a blocking std-socket driver, CPU/heap and syscalls
#      (issue 11; docs/benchmarks.md, "Driving the core yourself").
#
# Needs Debian's nginx (/usr/sbin/nginx, or NGINX=path) and strace.
# Environment: REQUESTS (default 20000), ROUNDS (5), WARMUP (2000),
# STRACE_REQUESTS (20000), CARGO_TARGET_DIR (default benches/target).
# Run by hand only; nothing here belongs in `cargo test` or CI.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
requests="${REQUESTS:-20000}"
rounds="${ROUNDS:-5}"
warmup="${WARMUP:-2000}"
strace_requests="${STRACE_REQUESTS:-20000}"
nginx="${NGINX:-/usr/sbin/nginx}"

missing=()
[ -x "$nginx" ] || missing+=("nginx-light (for $nginx)")
command -v "${STRACE:-strace}" >/dev/null || missing+=(strace)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "run.sh: missing ${missing[*]}; install with:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light strace" >&2
    exit 1
fi

cargo build --release --quiet --bin keepalive --bin core_driver
bin="$CARGO_TARGET_DIR/release/keepalive"
core_bin="$CARGO_TARGET_DIR/release/core_driver"

commit="$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$here/.." status --porcelain -- src Cargo.toml 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
if [ -n "$dirty" ]; then
    commit="$commit, with uncommitted changes to: ${dirty% }"
fi

echo "## Machine"
echo
echo "- cores (nproc): $(nproc)"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "- kernel: $(uname -r), clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown)"
echo "- server: $("$nginx" -v 2>&1 | sed 's/^nginx version: //')"
echo "- $(rustc --version)"
echo "- $("${STRACE:-strace}" -V | head -n1)"
echo "- roundtrip commit: $commit"
echo
echo "## CPU, time and heap per request"
echo
"$bin" --requests "$requests" --rounds "$rounds" --warmup "$warmup"
echo
echo "## System calls per request"
echo
"$bin" --strace --requests "$strace_requests"
echo
echo "## Driving the core yourself: \`Client\` vs a blocking \`Core\` driver"
echo
"$core_bin" --requests "$requests" --rounds "$rounds" --warmup "$warmup"
echo
"$core_bin" --strace --requests "$strace_requests"
