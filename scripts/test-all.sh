#!/usr/bin/env bash
# Runs every test of the workspace, the integration tests against a real Postfix included:
# starts Postfix on 127.0.0.1 (installing it first if needed, so run as root), then
# `cargo test --workspace` with any extra arguments passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
# An assignment, not `eval "$(...)"`, so that a failed start stops the run here.
postfix_env=$(bash scripts/postfix.sh)
eval "$postfix_env"
cargo test --workspace "$@"
