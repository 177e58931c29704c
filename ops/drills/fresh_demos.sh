#!/usr/bin/env bash
# Issue 11 drill: N consecutive `bash ops/demo.sh` runs, each in a fresh `git clone` of this checkout's branch
# with cold topics: every clone gets its own broker state dir (<clone>/.state, EXMAIL_STATE_DIR unset) and its own
# free broker port (EXMAIL_KAFKA_PORT), and EXMAIL_KAFKA_BOOTSTRAP is unset, so ops/demo.sh starts (and at the end
# stops) a broker of its own instead of reusing the shared one at 19092 or a previous clone's.
#
#   ops/drills/fresh_demos.sh [RUNS=10] [RESULTS=ops/drills/results/fresh-demos-<date>.md]
#
# Each run records exit code, wall time and the per-stage consumer lag the demo measured when it drained
# (summary.json "drained.lag_by_stage"); a failing run keeps its demo output (worker.log etc.) under
# $EXMAIL_DRILL_KEEP (default /tmp/fresh-demos-failed), with the clone's broker log. Extra `pipeline demo` arguments: EXMAIL_DEMO_ARGS.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runs=${1:-10}
results=${2:-$root/ops/drills/results/fresh-demos-$(date -u +%Y-%m-%d).md}
keep=${EXMAIL_DRILL_KEEP:-/tmp/fresh-demos-failed}
branch=$(git -C "$root" rev-parse --abbrev-ref HEAD)
commit=$(git -C "$root" rev-parse HEAD)  # every run checks out this commit, even if the branch moves meanwhile
py=${EXMAIL_PYTHON:-python3}

free_pair() { "$py" "$root/ops/drills/_ports.py"; }  # a port p with p+1 free, below the ephemeral range

summary_fields() {  # ok, checks failed, drain detail, lag by stage from one summary.json
  "$py" - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
bad = [c["name"] for c in s.get("checks", []) if not c["ok"]]
d = s.get("drained") or {}
lag = d.get("lag_by_stage") or {}
print(f"{'ok' if s.get('ok') else 'NOT ok'} | {', '.join(bad) or '-'} | {d.get('detail', '-')} | "
      + (", ".join(f"{k} {v}" for k, v in lag.items()) or "-")
      + f" | {s.get('events_distinct')} events, {s.get('audit_rows')} audit rows")
PY
}

mkdir -p "$(dirname "$results")"
{
  echo "# Fresh-clone demo drill ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Command: \`ops/drills/fresh_demos.sh $runs\` on branch $branch at $commit; each run: \`git clone --branch $branch\`,"
  echo "then \`bash ops/demo.sh\` (set-up + \`pipeline demo\`, default 60 s) in the clone with its own broker"
  echo "(\`<clone>/.state\`, a free port) and cold topics. Machine: $(nproc) cores, load at start $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| run | exit | seconds | summary | failed checks | drain | lag per stage at drain end | counts |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$results"

failures=0
for i in $(seq 1 "$runs"); do
  work=$(mktemp -d /tmp/fresh-demo-XXXXXX)
  git clone -q --branch "$branch" "$root" "$work/c" && git -C "$work/c" checkout -q "$commit"
  port=$(free_pair)
  t0=$(date +%s)
  (cd "$work/c" && env -u EXMAIL_KAFKA_BOOTSTRAP -u EXMAIL_STATE_DIR -u EXMAIL_KEEP_SERVICES \
     EXMAIL_KAFKA_PORT="$port" timeout 900 bash ops/demo.sh ${EXMAIL_DEMO_ARGS:-}) > "$work/demo.out" 2>&1
  code=$?
  secs=$(( $(date +%s) - t0 ))
  summary=$(ls -1 "$work"/c/demo-output/*/summary.json 2>/dev/null | tail -n1)
  fields=$([ -n "$summary" ] && summary_fields "$summary" || echo "no summary.json | - | - | - | -")
  echo "| $i | $code | $secs | $fields |" >> "$results"
  echo "fresh_demos: run $i exit $code in $secs s ($fields)" >&2
  if [ "$code" -ne 0 ]; then
    failures=$((failures + 1))
    mkdir -p "$keep/run-$i"
    cp -r "$work/demo.out" "$work"/c/demo-output "$keep/run-$i/" 2>/dev/null
    cp -r "$work/c/.state/kafka/logs" "$keep/run-$i/broker-logs" 2>/dev/null  # the broker's own log, if it died
    echo "fresh_demos: run $i kept in $keep/run-$i" >&2
  fi
  # the demo stops the broker it started; make sure nothing of this clone is left before deleting it
  env -u EXMAIL_STATE_DIR EXMAIL_KAFKA_PORT="$port" bash "$work/c/ops/kafka/kafka.sh" stop >/dev/null 2>&1
  rm -rf "$work"
done
{
  echo
  echo "Result: $((runs - failures)) of $runs runs exited 0."
} >> "$results"
[ "$failures" -eq 0 ]
