#!/bin/bash
# Instructions per keep-alive GET in roundtrip's process, repeatable where
# CPU time is not: callgrind's totals for 3000 and for 1000 GETs of the
# `keepalive` child against nginx on loopback, difference divided by 2000
# (start-up and the first connection cancel out). Needs valgrind and nginx.
# Usage: benches/instr-per-get.sh [--cache] [--trace]
#   --trace: a hook on every event
#   --cache: cachegrind with its cache simulation instead of callgrind,
#            which also prints L1 instruction- and data-cache misses per GET
#            (the code footprint: see docs/benchmarks.md, "why 19,000
#            instructions cost 7 µs")
set -euo pipefail
cd "$(dirname "$0")"
tool=callgrind
if [ "${1:-}" = --cache ]; then
    tool=cachegrind
    shift
fi
cargo build --release -q --bin keepalive
work=$(mktemp -d)
mkfifo "$work/stdin"
target/release/keepalive --serve > "$work/url" < "$work/stdin" &
server=$!
exec 3> "$work/stdin" # the server stops nginx when this closes
for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
for n in 1000 3000; do
    if [ "$tool" = cachegrind ]; then
        opts=(--tool=cachegrind --cache-sim=yes --cachegrind-out-file="$work/cg-$n.out")
    else
        opts=(--tool=callgrind --callgrind-out-file="$work/cg-$n.out")
    fi
    valgrind "${opts[@]}" \
        target/release/keepalive --loop-only "$(cat "$work/url")" --requests "$n" "$@" \
        > /dev/null 2> "$work/cg-$n.err"
done
exec 3>&-
wait "$server" || true
# The event named `$1` in a profile's totals (callgrind's `summary:` or
# `totals:` line, cachegrind's `summary:`, in the order of its `events:`).
total() {
    awk -v want="$1" '
        /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
        /^(summary|totals):/ && !done { print $(col[want]); done = 1 }' "$2"
}
per_get() { echo $(( ($(total "$1" "$work/cg-3000.out") - $(total "$1" "$work/cg-1000.out")) / 2000 )); }
echo "instructions per keep-alive GET: $(per_get Ir)"
if [ "$tool" = cachegrind ]; then
    echo "L1 instruction-cache misses per keep-alive GET: $(per_get I1mr)"
    echo "L1 data-cache misses per keep-alive GET: $(( $(per_get D1mr) + $(per_get D1mw) ))"
fi
rm -rf "$work"
