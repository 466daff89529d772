#!/usr/bin/env bash
# The pooled mailer against a simulated Amazon SES (BENCHMARKS.md, "Against a simulated Amazon
# SES"). A benchmark, not a test: CI does not run it. Everything is on 127.0.0.1.
#
# For each row of the matrix below, and for each client, a fresh `ses_server` (smtp-test-server's
# example: STARTTLS, AUTH, an account-wide rate in recipients per second over a sliding second,
# `454 Throttling failure` over it, a cap on concurrent connections, every reply delayed by the
# RTT) takes N messages of 2 KB (1 recipient each) over STARTTLS with AUTH PLAIN; then its
# standard input is closed and its counters are read.
#
#   row  RTT ms  account rate/s  told --rate  server connection cap
#   1    2       200             yes          10
#   2    2       200             no           10
#   3    2       14              no           10
#   4    80      14              no           10
#   5    80      200             yes          100
#   6    80      200             yes          10
#   7    20      200             no           10
#   8    20      14              no           10
#
# Clients:
#   tokio     smtp-tokio's `send` tool (a pooled `Mailer`);
#   blocking  smtp-blocking's `send_blocking` tool (the same);
#   lettre    lettre 0.11's pooled async transport (testing/bench/examples/ses_lettre.rs),
#             STARTTLS (rustls) and AUTH, with as many connections and tasks as ours: in told
#             rows the same TOLD_CONCURRENCY, in the others as many as smtp-tokio's run of the
#             row peaked at (the server's count; 1 if smtp-tokio did not run), or
#             LETTRE_CONNECTIONS if set. lettre does no pacing: by default (LETTRE_RETRY=1) a
#             task sends a message refused with a 4yz (454 throttling, 421 connection cap)
#             again after 1 s, at most 30 tries; LETTRE_RETRY=0 tries each message once.
#
# The pool policy of our tools: they choose it from the host name (PoolPolicy::ses() only for
# email-smtp.*.amazonaws.com, so PoolPolicy::default() for 127.0.0.1), unless told
# `--policy ses|default`. With SES_POLICY=1 (the default) the script passes `--policy ses`;
# tools built before they had `--policy` (it is detected from their usage line) get
# `--max-per-connection 100` instead, the only difference then between PoolPolicy::ses() and the
# default for one-recipient messages. SES_POLICY=0 passes neither.
#
# --concurrency and --rate: rows where the client is not told the rate ("no") run the tools as a
# user who knows nothing would, with neither: the tools' default connection count (the pool
# opens what the work needs, up to the policy's limit, 100 for SES; tools before that change
# used 1 connection). Rows where it is told ("yes") pass `--rate RATE --concurrency
# TOLD_CONCURRENCY` (100 by default, above the cap of rows 1 and 6, so that the pool meets the
# server's 421 for connections there). The `conn` column is the --concurrency given (`auto`
# when none).
#
# Each client run has a time budget of BUDGET seconds (60 by default; 0 for none), so that the
# slow rows (one connection, 4 round trips a message: 3 msg/s at 80 ms) do not take the script
# past about 15 minutes at N=1000. lettre is told to stop at the budget (`--deadline`); our tools
# are stopped then (SIGTERM), and their line is made from the server's count of accepted messages
# over the wall time the script measured. A run stopped at the budget is marked `*`.
#
# Per row and client it prints: delivered messages, wall time and the achieved rate (from the
# tool's closing line `delivered D of N messages in S s (R msg/s)`, or as above), the achieved
# rate over the ideal min(account rate, cap / (4 x RTT)), messages throttled (454) as the server
# counted them and as a share of the messages it was sent (accepted + throttled), connections
# the server refused (421, over the cap), peak concurrent connections, sessions ended by the
# per-session cap (the server's default, 300), and our rate over lettre's.
#
# Usage: [N=1000] [ROWS="1 2 ..."] [CLIENTS="tokio blocking lettre"] [BUDGET=60]
#        [TOLD_CONCURRENCY=100] [SES_POLICY=1] [LETTRE_RETRY=1] [LETTRE_CONNECTIONS=N]
#        [BUILD=1] [VERBOSE=1]
#        scripts/bench-ses.sh
# N=1000 with all rows took 13 minutes at commit fba6483 (the 14/s rows stop at the budget),
# N=200 about 4; with tools that use one connection by default, 16 and 8.
# VERBOSE=1 prints each run's closing lines and counters on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
ROWS=${ROWS:-1 2 3 4 5 6 7 8}
CLIENTS=${CLIENTS:-tokio blocking lettre}
TOLD_CONCURRENCY=${TOLD_CONCURRENCY:-100}
SES_POLICY=${SES_POLICY:-1}
LETTRE_RETRY=${LETTRE_RETRY:-1}
BUDGET=${BUDGET:-60}
BUILD=${BUILD:-1}
SPECS=("" "2 200 yes 10" "2 200 no 10" "2 14 no 10" "80 14 no 10" "80 200 yes 100"
    "80 200 yes 10" "20 200 no 10" "20 14 no 10")

WORK=$(mktemp -d)
SERVER=
CLIENT=
cleanup() {
    exec 5>&- 2>/dev/null || true
    for pid in $CLIENT $SERVER; do kill "$pid" 2>/dev/null || true; done
    for pid in $CLIENT $SERVER; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$BUILD" = 1 ]; then
    cargo build --release -q -p smtp-test-server --example ses_server
    cargo build --release -q -p smtp-tokio --example send
    cargo build --release -q -p smtp-blocking --example send_blocking
    cargo build --release -q -p smtp-bench --example ses_lettre
fi
BIN=target/release/examples
export SES_BENCH_PASSWORD=demo-password
POLICY=()
if [ "$SES_POLICY" = 1 ]; then
    if { "$BIN/send" --help 2>&1 || true; } | grep -q -- '--policy'; then
        POLICY=(--policy ses)
    else
        POLICY=(--max-per-connection 100)
    fi
fi

# Starts a fresh ses_server; sets SERVER and PORT.
start_server() {
    local rtt=$1 rate=$2 cap=$3
    rm -f "$WORK/hold" "$WORK/server.out" "$WORK/ca.pem"
    mkfifo "$WORK/hold"
    # The server serves until its standard input (the FIFO, held open on fd 5) closes.
    "$BIN/ses_server" --listen 127.0.0.1:0 --tls starttls --rate "$rate" --connections "$cap" \
        --latency-ms "$rtt" --ca-file "$WORK/ca.pem" --user demo --password demo-password \
        <"$WORK/hold" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER=$!
    exec 5>"$WORK/hold"
    PORT=
    for _ in $(seq 200); do
        PORT=$(sed -nE 's/^listening 127\.0\.0\.1:([0-9]+).*/\1/p' "$WORK/server.out")
        [ -n "$PORT" ] && [ -s "$WORK/ca.pem" ] && return
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.05
    done
    echo "ses_server did not start:" >&2
    cat "$WORK/server.out" "$WORK/server.err" >&2
    exit 1
}

# Closes the server's standard input; sets COUNTERS to its counters line.
stop_server() {
    exec 5>&-
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    COUNTERS=$(grep -E '^accepted=' "$WORK/server.out" | tail -1 || true)
}

# Runs one client against the server on PORT; sets CLOSING to the client's closing line(s), or
# CUT to the wall time if it was stopped at the budget. (Not in a command substitution, so
# that the trap knows the client's pid.)
run_client() {
    local client=$1 rate=$2 told=$3 concurrency=$4
    local common=(--host 127.0.0.1 --port "$PORT")
    local ours=("${common[@]}" --tls starttls --ca-file "$WORK/ca.pem" --user demo
        --password-env SES_BENCH_PASSWORD --from sender@example.com --to recipient@example.net
        --count "$N")
    [ "$told" = yes ] && ours+=(--concurrency "$concurrency" --rate "$rate")
    ours+=("${POLICY[@]}")
    local cmd limit=$BUDGET
    case $client in
        tokio) cmd=("$BIN/send" "${ours[@]}") ;;
        blocking) cmd=("$BIN/send_blocking" "${ours[@]}") ;;
        lettre)
            cmd=("$BIN/ses_lettre" "${common[@]}" --count "$N" --concurrency "$concurrency"
                --ca-file "$WORK/ca.pem" --user demo --password-env SES_BENCH_PASSWORD)
            [ "$LETTRE_RETRY" = 1 ] && cmd+=(--retry)
            # It stops by itself at the budget; the timeout only guards against a hang.
            [ "$BUDGET" -gt 0 ] && cmd+=(--deadline "$BUDGET") && limit=$((BUDGET + 60))
            ;;
        *) echo "unknown client $client" >&2; exit 64 ;;
    esac
    local started status=0
    started=$(date +%s.%N)
    timeout "$limit" "${cmd[@]}" >"$WORK/client.out" 2>"$WORK/client.err" &
    CLIENT=$!
    wait "$CLIENT" || status=$?
    CLIENT=
    CUT=
    [ "$status" = 124 ] && CUT=$(python3 -c "print($(date +%s.%N) - $started)")
    CLOSING=$(grep -E '^(delivered [0-9]+ of|throttled [0-9]+ \()' "$WORK/client.out" || true)
}

# One result line from a client's closing line and the server's counters.
report() {
    python3 - "$@" <<'PY'
import re, sys
client, conc, rtt, rate, cap, closing, counters, cut, budget = sys.argv[1:10]
ideal = min(float(rate), float(cap) / (4 * float(rtt) / 1000))
m = re.search(r"delivered (\d+) of (\d+) messages in ([\d.]+) s \(([\d.]+) msg/s\)", closing)
c = dict(kv.split("=") for kv in counters.split()) if counters else {}
if not c or not (m or cut):
    print(f"{client:<9} {conc:>4}  no result (closing line {closing!r}, server {counters!r})")
    sys.exit()
accepted, throttled = int(c["accepted"]), int(c["throttled"])
if cut:
    # Stopped at the budget: what the server accepted over the wall time measured here.
    delivered, seconds, mark = accepted, float(cut), "*"
    achieved = delivered / seconds
else:
    delivered, total, seconds, achieved = int(m[1]), int(m[2]), float(m[3]), float(m[4])
    # lettre stopped by itself at the budget: marked the same.
    mark = "*" if 0 < float(budget) <= seconds and delivered < total else ""
share = 100 * throttled / max(1, accepted + throttled)
print(f"{client:<9} {conc:>4} {str(delivered) + mark:>9} {seconds:>8.2f} {achieved:>8.1f} "
      f"{achieved / ideal:>8.2f} {throttled:>9} {share:>6.1f}% {c['refused_connections']:>7} "
      f"{c['peak_connections']:>5} {c['session_caps']:>5}")
PY
}

printf 'N=%s, BUDGET=%s s, our tools: %s, TOLD_CONCURRENCY=%s, LETTRE_RETRY=%s\n' \
    "$N" "$BUDGET" "${POLICY[*]:-their own policy}" "$TOLD_CONCURRENCY" "$LETTRE_RETRY"
for row in $ROWS; do
    read -r rtt rate told cap <<<"${SPECS[$row]}"
    ideal=$(python3 -c "print(f'{min($rate, $cap / (4 * $rtt / 1000)):.1f}')")
    echo "== row $row: RTT $rtt ms, account $rate/s, told --rate: $told, cap $cap connections;" \
        "ideal min($rate, $cap/(4 x $rtt ms)) = $ideal msg/s"
    printf '%-9s %4s %9s %8s %8s %8s %9s %7s %7s %5s %5s %s\n' client conn delivered seconds \
        msg/s "/ideal" throttled "thr %" refused peak caps "vs lettre"
    declare -A rates=()
    lines=()
    peak=
    for client in $CLIENTS; do
        concurrency=auto
        [ "$told" = yes ] && concurrency=$TOLD_CONCURRENCY
        if [ "$client" = lettre ] && [ "$told" != yes ]; then
            concurrency=${LETTRE_CONNECTIONS:-${peak:-1}}
        fi
        start_server "$rtt" "$rate" "$cap"
        run_client "$client" "$rate" "$told" "$concurrency"
        stop_server
        if [ "$client" = tokio ]; then
            peak=$(sed -nE 's/.*peak_connections=([0-9]+).*/\1/p' <<<"$COUNTERS")
            [ "${peak:-0}" -gt 0 ] || peak=
        fi
        line=$(report "$client" "$concurrency" "$rtt" "$rate" "$cap" "$CLOSING" "$COUNTERS" "$CUT" \
            "$BUDGET")
        rates[$client]=$(awk '$5 ~ /^[0-9.]+$/ {print $5}' <<<"$line")
        lines+=("$line")
        if [ -n "${VERBOSE:-}" ]; then
            printf '   %s\n' "$CLOSING" "$COUNTERS" >&2
            head -5 "$WORK/client.err" >&2
        fi
    done
    for i in "${!lines[@]}"; do
        line=${lines[$i]}
        client=${line%% *}
        ratio=-
        if [ "$client" != lettre ] && [ -n "${rates[lettre]:-}" ] && [ -n "${rates[$client]:-}" ]; then
            ratio=$(python3 -c "l = ${rates[lettre]}; print(f'{${rates[$client]} / l:.2f}x' if l else 'inf')")
        fi
        printf '%s %s\n' "$line" "$ratio"
    done
    unset rates
done
