#!/usr/bin/env bash
# The README's test command: set-up, then the quality gates, then every test (unit and integration) against the
# real Kafka broker and PostgreSQL that the test fixtures start through ops/kafka and ops/postgres.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash ops/setup.sh || exit 1
export PATH="$root/.venv/bin:$PATH"

echo "== ruff"
ruff check pipeline tests ops || exit 1
echo "== mypy"
mypy || exit 1
echo "== pytest"
pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
