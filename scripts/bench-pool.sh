#!/usr/bin/env bash
# Pooled mailer benchmarks (BENCHMARKS.md), on 127.0.0.1, 2 KB messages:
#
# 1. Throughput over 1, 2, 4 and 8 connections: the `send` tool of each adapter (a `Mailer`
#    with `--concurrency C`) and lettre's pooled transports (`compare_lettre`, C threads or
#    tasks), against Postfix's smtp-sink and, if it runs, the test Postfix (scripts/postfix.sh).
# 2. Round trips per message with the pool, through the delay proxy (DELAY_MS each way, 5 by
#    default): smtp-sink (PIPELINING), Postfix (PIPELINING, CHUNKING), and Postfix over
#    STARTTLS with AUTH, where connection set-up is paid once per connection.
# 3. A rate limit: `--rate 50` over 4 connections, the rate achieved.
#
# Usage: [N=400] [DELAY_MS=5] scripts/bench-pool.sh   (as root: smtp-sink runs as nobody)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-400}
DELAY_MS=${DELAY_MS:-5}
SINK_PORT=12045
PROXY_PORT=12046
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

command -v smtp-sink >/dev/null || eval "$(bash scripts/postfix.sh)"
cargo build --release -q -p smtp-blocking --example send_blocking
cargo build --release -q -p smtp-tokio --example send
cargo build --release -q -p smtp-bench --example compare_lettre

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; }
smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 1000 &
PIDS+=($!)
wait_port "$SINK_PORT"

# The rate in msg/s from a tool's closing line.
rate() { grep -E '^(sent|delivered) [0-9]+ ' | tail -1 | sed -E 's/.*\(([0-9.]+) msg\/s\).*/\1/'; }

ours() {
    local tool=$1 port=$2 count=$3 concurrency=$4; shift 4
    "target/release/examples/$tool" --host 127.0.0.1 --port "$port" --tls none --count "$count" \
        --concurrency "$concurrency" --from sender@example.com --to recipient@example.net "$@" | rate
}
lettre() { target/release/examples/compare_lettre "$1" 127.0.0.1 "$2" "$3" "$4" | rate; }

throughput() {
    local server=$1 port=$2
    echo "== $server: $N messages, msg/s (ratio to lettre's pooled transport of the same kind)"
    printf '%-12s %18s %18s %12s %12s\n' connections "smtp-tokio" "smtp-blocking" "lettre async" "lettre sync"
    for c in 1 2 4 8; do
        local t b la ls
        t=$(ours send "$port" "$N" "$c")
        b=$(ours send_blocking "$port" "$N" "$c")
        la=$(lettre async "$port" "$N" "$c")
        ls=$(lettre sync "$port" "$N" "$c")
        python3 - "$c" "$t" "$b" "$la" "$ls" <<'PY'
import sys
c, t, b, la, ls = sys.argv[1], *map(float, sys.argv[2:])
print(f"{c:<12} {t:>9.0f} ({t / la:>5.1f}x) {b:>9.0f} ({b / ls:>5.1f}x) {la:>12.1f} {ls:>12.1f}")
PY
    done
}

# Round trips per message through the delay proxy: "msg/s flights/msg".
proxied() {
    local port=$1 count=$2; shift 2
    python3 scripts/delay_proxy.py "$PROXY_PORT" "$port" "$DELAY_MS" "$WORK/flights" &
    local proxy=$!
    wait_port "$PROXY_PORT"
    local r
    r=$(target/release/examples/send --port "$PROXY_PORT" --count "$count" \
        --from sender@example.com --to recipient@example.net "$@" | rate)
    kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null || true
    python3 -c "print(f'{$r:>10} msg/s {$(cat "$WORK/flights") / $count:>8.3f} round trips/msg')"
}

throughput smtp-sink "$SINK_PORT"
postfix=false
if (exec 3<>/dev/tcp/127.0.0.1/10025) 2>/dev/null; then
    postfix=true
    throughput "Postfix (delivering to a Maildir)" 10025
fi

echo "== round trips per message, $DELAY_MS ms each way, smtp-tokio's pool (1 connection, 200 messages)"
printf '%-40s' "smtp-sink (PIPELINING)"
proxied "$SINK_PORT" 200 --host 127.0.0.1 --tls none
if $postfix; then
    printf '%-40s' "Postfix (PIPELINING, CHUNKING)"
    proxied 10025 200 --host 127.0.0.1 --tls none
    printf '%-40s' "Postfix, STARTTLS and AUTH"
    TESTPASS=testpass proxied 10587 200 --host localhost --tls starttls \
        --ca-file "$SMTP_POSTFIX_DIR/ca.pem" --user testuser --password-env TESTPASS
fi

echo "== a rate of 50 msg/s over 4 connections to smtp-sink (500 messages)"
printf 'achieved %s msg/s\n' "$(ours send "$SINK_PORT" 500 4 --rate 50)"

echo "== resident memory of 1,000 idle sessions against the embedded test server (another process)"
cargo build --release -q -p smtp-test-server --example test_server
cargo build --release -q -p smtp-bench --example idle_sessions
mkfifo "$WORK/hold"
for mode in plain starttls; do
    flags=()
    [ "$mode" = plain ] && flags=(plain)
    # The server serves until its standard input (a FIFO held open here) closes.
    target/release/examples/test_server "$WORK/ca.pem" "${flags[@]}" >"$WORK/port" <"$WORK/hold" &
    server=$!
    exec 5>"$WORK/hold"
    for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
    printf '%-10s' "$mode"
    if [ "$mode" = plain ]; then
        target/release/examples/idle_sessions "$(cat "$WORK/port")" 1000
    else
        target/release/examples/idle_sessions "$(cat "$WORK/port")" 1000 "$WORK/ca.pem"
    fi
    exec 5>&-
    wait "$server" 2>/dev/null || true
    : >"$WORK/port"
done
