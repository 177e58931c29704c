#!/usr/bin/env bash
# The README's run command: set-up, then the main job on embedded defaults (local Kafka + simulator + SQLite).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash ops/setup.sh
export PATH="$root/.venv/bin:$PATH"
if pipeline demo --help >/dev/null 2>&1; then
  exec pipeline demo "$@"
fi
# until the full demo exists: start the broker, create the topics, round-trip records through it
ops/kafka/kafka.sh start
pipeline topics
exec pipeline smoke "$@"
