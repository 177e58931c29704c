#!/usr/bin/env bash
# The README's run command: set-up, then `pipeline demo` on embedded defaults (local Kafka broker, the simulator
# on a fast clock, ingest and worker on SQLite). Arguments go to `pipeline demo` (e.g. --duration 120, --forever;
# see `pipeline demo --help`). Output: demo-output/<timestamp>/ (audit.db, summary.json, sample messages, logs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash ops/setup.sh
export PATH="$root/.venv/bin:$PATH"
exec pipeline demo "$@"
