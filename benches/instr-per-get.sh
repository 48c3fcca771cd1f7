#!/bin/bash
# Instructions per keep-alive GET in roundtrip's process, repeatable where
# CPU time is not: callgrind's totals for 3000 and for 1000 GETs of the
# `keepalive` child against nginx on loopback, difference divided by 2000
# (start-up and the first connection cancel out). Needs valgrind and nginx.
# Usage: benches/instr-per-get.sh [--trace]   (--trace: a hook on every event)
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release -q --bin keepalive
work=$(mktemp -d)
mkfifo "$work/stdin"
target/release/keepalive --serve > "$work/url" < "$work/stdin" &
server=$!
exec 3> "$work/stdin" # the server stops nginx when this closes
for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
for n in 1000 3000; do
    valgrind --tool=callgrind --callgrind-out-file="$work/cg-$n.out" \
        target/release/keepalive --loop-only "$(cat "$work/url")" --requests "$n" "$@" \
        > /dev/null 2> "$work/cg-$n.err"
done
exec 3>&-
wait "$server" || true
total() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }
a=$(total "$work/cg-1000.out")
b=$(total "$work/cg-3000.out")
echo "instructions per keep-alive GET: $(( (b - a) / 2000 ))"
rm -rf "$work"
