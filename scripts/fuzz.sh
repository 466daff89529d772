#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30), with the committed seeds and
# dictionary. Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]. Needs the nightly toolchain and
# cargo-fuzz (installed from crates.io if missing). Fails on the first crash; the crashing input
# is left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(reply ehlo command data session verdicts)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build

for target in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    seeds=()
    [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
    echo "fuzzing $target for ${SECONDS_EACH}s"
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
        -dict=fuzz/smtp.dict -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 |
        grep -E "^(#[0-9]+[[:space:]]+DONE|Done|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|SUMMARY|==[0-9]+==|thread)|panicked" || true
    # A crash, OOM, timeout or leak leaves its input in fuzz/artifacts/<target>/; the exit
    # status of cargo fuzz is hidden behind grep, so that is what decides.
    if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
        echo "fuzz target $target failed; inputs in fuzz/artifacts/$target" >&2
        exit 1
    fi
done
