#!/usr/bin/env bash
# End-to-end benchmark: N copies of a 2 KB message over one connection, sent by our tokio and
# blocking adapters, lettre 0.11 (blocking and async, pooled) and Python's smtplib, to Postfix's
# smtp-sink (PIPELINING, no CHUNKING) and to the test Postfix on 127.0.0.1:10025 (PIPELINING and
# CHUNKING). With DELAY_MS > 0 a proxy adds that delay each way. Prints msg/s, the ratio to
# smtplib measured in the same run, and round trips per message counted by the proxy.
#
# Usage: [N=2000] [DELAY_MS=0] scripts/bench-e2e.sh   (as root: smtp-sink runs as nobody)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
DELAY_MS=${DELAY_MS:-0}
SINK_PORT=12025
PROXY_PORT=12026
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

command -v smtp-sink >/dev/null || eval "$(bash scripts/postfix.sh)"
cargo build --release -q -p smtp-tokio -p smtp-blocking --examples
cargo build --release -q -p smtp-bench --example compare_lettre

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; }

smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 1000 &
PIDS+=($!)
wait_port "$SINK_PORT"

# Runs one client against PORT (through the proxy when DELAY_MS > 0); prints "msg/s flights".
run() {
    local port=$1; shift
    local target=$port
    if [ "$DELAY_MS" != 0 ]; then
        python3 scripts/delay_proxy.py "$PROXY_PORT" "$port" "$DELAY_MS" "$WORK/flights" &
        local proxy=$!
        wait_port "$PROXY_PORT"
        target=$PROXY_PORT
    fi
    local out
    out=$("$@" "$target" 2>&1 | grep -E '^(sent|delivered) [0-9]+ ' | tail -1)
    local flights=-
    if [ "$DELAY_MS" != 0 ]; then
        flights=$(cat "$WORK/flights")
        kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null || true
    fi
    local rate
    rate=$(sed -E 's/.*\(([0-9.]+) msg\/s\).*/\1/' <<<"$out")
    echo "${rate:-0} $flights"
}

ours_tokio() { target/release/examples/send --host 127.0.0.1 --tls none --count "$N" --from sender@example.com --to recipient@example.net --port "$1"; }
ours_blocking() { target/release/examples/send_blocking --host 127.0.0.1 --tls none --count "$N" --from sender@example.com --to recipient@example.net --port "$1"; }
lettre_sync() { target/release/examples/compare_lettre sync 127.0.0.1 "$1" "$N"; }
lettre_async() { target/release/examples/compare_lettre async 127.0.0.1 "$1" "$N"; }
smtplib() {
    python3 - "$1" "$N" <<'PY'
import smtplib, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
body = "From: <sender@example.com>\r\nTo: <recipient@example.net>\r\nSubject: bench\r\n\r\n"
while len(body) < 2048:
    body += "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n"
start = time.perf_counter()
with smtplib.SMTP("127.0.0.1", port) as s:
    for _ in range(n):
        s.sendmail("sender@example.com", ["recipient@example.net"], body)
secs = time.perf_counter() - start
print(f"sent {n} messages in {secs:.3f} s ({n / secs:.1f} msg/s)")
PY
}

cargo build --release -q -p smtp-blocking --example send_blocking
cargo build --release -q -p smtp-tokio --example send

report() {
    local server=$1 port=$2
    echo "== $server, $N messages of 2 KB over one connection, delay ${DELAY_MS} ms each way"
    printf '%-26s %12s %14s %16s\n' client msg/s "vs smtplib" "round trips/msg"
    local base
    read -r base base_flights < <(run "$port" smtplib)
    for client in smtplib ours_tokio ours_blocking lettre_sync lettre_async; do
        local rate flights
        if [ "$client" = smtplib ]; then rate=$base; flights=$base_flights; else read -r rate flights < <(run "$port" "$client"); fi
        local ratio per
        ratio=$(python3 -c "print(f'{float($rate)/float($base):.2f}x' if float($base) else '-')")
        per=-
        [ "$flights" = - ] || per=$(python3 -c "print(f'{$flights / $N:.2f}')")
        printf '%-26s %12s %14s %16s\n' "$client" "$rate" "$ratio" "$per"
    done
}

report "smtp-sink" "$SINK_PORT"
if (exec 3<>/dev/tcp/127.0.0.1/10025) 2>/dev/null; then
    report "Postfix (CHUNKING)" 10025
fi
