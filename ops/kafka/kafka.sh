#!/usr/bin/env bash
# Run a real Apache Kafka broker (KRaft combined mode, single node, 127.0.0.1 only) from Maven Central jars.
#
#   ops/kafka/kafka.sh start    fetch jars once (cached outside git), format, start, wait for metadata
#   ops/kafka/kafka.sh stop     SIGTERM the broker by PID, wait for it to exit
#   ops/kafka/kafka.sh status   print state and bootstrap address; exit 0 when running
#   ops/kafka/kafka.sh fetch    only download the jars
#   ops/kafka/kafka.sh env      print the env file (EXMAIL_KAFKA_BOOTSTRAP=...)
#
# Settings (env): EXMAIL_STATE_DIR (default <repo>/.state), EXMAIL_CACHE_DIR (default ~/.cache/exmail-pipeline),
# EXMAIL_KAFKA_PORT (default 19092), EXMAIL_KAFKA_CONTROLLER_PORT (default port+1), EXMAIL_KAFKA_HEAP (default 1g: a test run creates thousands of partitions).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${EXMAIL_STATE_DIR:-$root/.state}/kafka
cache=${EXMAIL_CACHE_DIR:-$HOME/.cache/exmail-pipeline}
port=${EXMAIL_KAFKA_PORT:-19092}
cport=${EXMAIL_KAFKA_CONTROLLER_PORT:-$((port + 1))}
heap=${EXMAIL_KAFKA_HEAP:-1g}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
lib=$cache/kafka-$version/lib
pidfile=$state/kafka.pid
envfile=$state/env
logfile=$state/logs/kafka.out

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_java() {
  command -v java >/dev/null 2>&1 || die "java not found: install a Java 17+ runtime (Debian: apt-get install -y openjdk-17-jre-headless)"
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ "${major:-0}" -ge 17 ] || die "Kafka $version needs Java 17+, found Java ${major:-unknown}: install openjdk-17-jre-headless"
}

fetch() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven to fetch the Kafka jars (Debian: apt-get install -y maven)"
  echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central into $lib" >&2
  rm -rf "$lib"; mkdir -p "$lib"
  mvn -B -q -f "$here/pom.xml" -Dlibdir="$lib" dependency:copy-dependencies >&2 \
    || die "mvn could not fetch the Kafka jars (is Maven Central reachable?)"
  ls "$lib"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Kafka jar missing after fetch in $lib"
  touch "$lib/.complete"
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  # this checkout's broker only: a stale pid file's pid may since belong to another checkout's broker (pids are
  # reused), and stopping that one would kill a stranger (seen in the fresh-clone demo drill)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null \
    | grep -qF "kafka.Kafka $state/server.properties" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ready = the broker answers a metadata request listing itself; falls back to the log line when no client is at hand.
answers_metadata() {
  local py=${EXMAIL_PYTHON:-$root/.venv/bin/python}
  if [ -x "$py" ] && "$py" -c 'import confluent_kafka' 2>/dev/null; then
    "$py" - "127.0.0.1:$port" <<'PY' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=2)
sys.exit(0 if md.brokers else 1)
PY
  elif command -v kcat >/dev/null 2>&1; then
    timeout 5 kcat -b "127.0.0.1:$port" -L -m 3 2>/dev/null | grep -q '1 brokers'
  else
    port_open "$port" && grep -q 'Kafka Server started' "$logfile" 2>/dev/null
  fi
}

start() {
  need_java
  fetch
  if pid=$(running_pid); then
    echo "kafka.sh: already running (pid $pid) at 127.0.0.1:$port" >&2
    write_env; return 0
  fi
  if port_open "$port" && answers_metadata; then
    echo "kafka.sh: reusing the broker already answering at 127.0.0.1:$port (not started by this checkout)" >&2
    write_env; return 0
  fi
  if port_open "$port" || port_open "$cport"; then
    die "port $port or $cport on 127.0.0.1 is taken by another process; set EXMAIL_KAFKA_PORT to a free port"
  fi
  mkdir -p "$state/data" "$state/logs"
  sed -e "s:@PORT@:$port:g" -e "s:@CONTROLLER_PORT@:$cport:g" -e "s:@DATA_DIR@:$state/data:g" \
    "$here/server.properties.in" > "$state/server.properties"
  local jopts=(-Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$state/logs" -Djava.awt.headless=true)
  if [ ! -f "$state/data/meta.properties" ]; then
    local cid; cid=$(java -cp "$lib/*" "${jopts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    java -cp "$lib/*" "${jopts[@]}" kafka.tools.StorageTool format -t "$cid" -c "$state/server.properties" \
      >"$state/logs/format.out" 2>&1 || { cat "$state/logs/format.out" >&2; die "formatting the log dir failed"; }
  fi
  nohup java -Xms128m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    "${jopts[@]}" -cp "$lib/*" kafka.Kafka "$state/server.properties" >"$logfile" 2>&1 </dev/null &
  echo $! > "$pidfile"
  local t0=$SECONDS
  until answers_metadata; do
    if ! running_pid >/dev/null; then tail -n 30 "$logfile" >&2; die "broker exited during start (log: $logfile)"; fi
    [ $((SECONDS - t0)) -lt 120 ] || { tail -n 30 "$logfile" >&2; die "broker did not answer metadata within 120 s"; }
    sleep 0.5
  done
  write_env
  echo "kafka.sh: Apache Kafka $version ready at 127.0.0.1:$port (pid $(cat "$pidfile"), $((SECONDS - t0)) s)" >&2
}

write_env() {
  mkdir -p "$state"
  printf 'EXMAIL_KAFKA_BOOTSTRAP=127.0.0.1:%s\nEXMAIL_KAFKA_VERSION=%s\n' "$port" "$version" > "$envfile"
}

stop() {
  local pid
  if ! pid=$(running_pid); then echo "kafka.sh: not running" >&2; rm -f "$pidfile"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then echo "kafka.sh: controlled shutdown took over 60 s, killing" >&2; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  echo "kafka.sh: stopped (pid $pid)" >&2
}

status() {
  if pid=$(running_pid); then
    echo "running pid=$pid bootstrap=127.0.0.1:$port version=$version state=$state"
  elif port_open "$port" && answers_metadata; then
    echo "running external bootstrap=127.0.0.1:$port (another checkout's broker; stop it there)"
  else
    echo "stopped version=$version state=$state"; return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  fetch) need_java; fetch; echo "$lib" ;;
  env) cat "$envfile" ;;
  reset) stop; rm -rf "$state" ;;
  *) echo "usage: $0 {start|stop|status|fetch|env|reset}" >&2; exit 2 ;;
esac
