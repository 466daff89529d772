#!/usr/bin/env bash
# Cost per message over a long session, and TLS set-up per connection (BENCHMARKS.md):
#
# 1. The `send` tool of each adapter sends N1 and then N2 messages of 2 KB over one connection
#    to Postfix's smtp-sink; prints user CPU per message for each and the ratio N2 / N1, which
#    stays near 1 when the cost per message does not grow with the session.
# 2. The core alone over one session of 100,000 messages taken a hundred at a time: resident
#    memory after 1,000 and after 100,000 (examples/long_session_memory.rs).
# 3. With the test Postfix running (scripts/postfix.sh), opens 8 STARTTLS connections at once
#    with --ca-file through each adapter and prints the wall time: the TLS configuration is
#    built once and shared, not loaded per connection.
#
# Usage: [N1=5000] [N2=40000] scripts/bench-long.sh   (as root: smtp-sink runs as nobody)
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-5000}
N2=${N2:-40000}
SINK_PORT=12035
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

command -v smtp-sink >/dev/null || eval "$(bash scripts/postfix.sh)"
cargo build --release -q -p smtp-blocking --example send_blocking
cargo build --release -q -p smtp-tokio --example send

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; }
smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 1000 &
PIDS+=($!)
wait_port "$SINK_PORT"

# Prints the user CPU seconds (to the microsecond, from getrusage) of one run of the tool named
# $1 with N messages, the best of three.
measure() {
    python3 - "target/release/examples/$1" "$2" "$SINK_PORT" <<'PY'
import resource, subprocess, sys
tool, n, port = sys.argv[1], sys.argv[2], sys.argv[3]
best = None
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    subprocess.run([tool, "--host", "127.0.0.1", "--port", port, "--tls", "none", "--count", n,
                    "--from", "sender@example.com", "--to", "recipient@example.net"],
                   stdout=subprocess.DEVNULL, check=True)
    spent = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    best = spent if best is None else min(best, spent)
print(best)
PY
}

echo "== user CPU per message, one connection to smtp-sink, 2 KB messages"
printf '%-10s %10s %14s %10s %14s %8s\n' adapter "N1=$N1" "us/msg" "N2=$N2" "us/msg" ratio
for tool in send send_blocking; do
    cpu1=$(measure "$tool" "$N1")
    cpu2=$(measure "$tool" "$N2")
    python3 - "$tool" "$N1" "$cpu1" "$N2" "$cpu2" <<'PY'
import sys
tool, n1, c1, n2, c2 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
p1, p2 = c1 / n1 * 1e6, c2 / n2 * 1e6
name = "tokio" if tool == "send" else "blocking"
print(f"{name:<10} {c1:>9.3f}s {p1:>14.1f} {c2:>9.3f}s {p2:>14.1f} {p2 / p1:>8.2f}")
PY
done

echo "== resident memory over one session, the core alone"
cargo run --release -q -p smtp-sansio --example long_session_memory

if [ -n "${SMTP_POSTFIX_DIR:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/10025) 2>/dev/null; then
    echo "== 8 STARTTLS connections at once with --ca-file, to Postfix on 127.0.0.1:10025"
    for tool in send send_blocking; do
        start=$(date +%s.%N)
        "target/release/examples/$tool" --host localhost --port 10025 --tls starttls \
            --ca-file "$SMTP_POSTFIX_DIR/ca.pem" --count 8 --concurrency 8 \
            --from sender@example.com --to tls@example.net >/dev/null
        end=$(date +%s.%N)
        python3 -c "print(f'{\"$tool\":<14} {($end - $start) * 1000:.0f} ms')"
    done
fi
