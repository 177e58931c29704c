#!/usr/bin/env bash
# Everything a fresh machine needs before the demo or the tests: system packages, the venv with the project,
# the Kafka jars (cached), PostgreSQL (installed if absent). Idempotent and quiet when nothing is missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { echo "setup: $*" >&2; }

apt_install() {
  # apt_install CMD PACKAGE...: install Debian packages when CMD is missing (root only; otherwise say what to run)
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing '$cmd': install the Debian packages: $*"; return 1
  fi
  if [ ! -f /tmp/.exmail-apt-updated ]; then apt-get update -qq >&2 && touch /tmp/.exmail-apt-updated; fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/tmp/exmail-apt.log 2>&1 || { tail -n 20 /tmp/exmail-apt.log >&2; return 1; }
}

# system packages: Java + Maven for Kafka; kcat for the ingest baseline; rsyslog for the syslog sink's real peer
apt_install java default-jre-headless
apt_install mvn maven
apt_install kcat kcat || true
[ -x /usr/sbin/rsyslogd ] || apt_install rsyslogd rsyslog rsyslog-gnutls || true
[ -f /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || apt_install __none__ rsyslog-gnutls || true
# promtool validates ops/prometheus; docker-compose (v1, Debian) validates docker-compose.yml; no daemon needed
apt_install promtool prometheus || true
apt_install docker-compose docker-compose || true
# the console's browser tests: headless Chromium and its WebDriver from Debian (Selenium points at them)
[ -x /usr/bin/chromedriver ] || apt_install __none__ chromium chromium-driver || true
# a CJK font, so the console's Chinese pages render (and screenshot) as text, not boxes
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || apt_install __none__ fonts-wqy-microhei || true
# the routing baseline of the benchmarks
[ -x /usr/bin/prometheus-alertmanager ] || apt_install __none__ prometheus-alertmanager || true
# the SSO gateway's real peers: OpenLDAP (a private slapd per test) and an OpenID provider (oidc-provider, npm)
[ -x /usr/sbin/slapd ] || apt_install __none__ slapd ldap-utils
apt_install npm npm
if [ ! -f tests/peers/oidc/node_modules/.package-lock.json ] \
    || ! cmp -s tests/peers/oidc/package-lock.json tests/peers/oidc/node_modules/.lock-installed; then
  say "installing the OpenID provider test peer (npm ci)"
  (cd tests/peers/oidc && npm ci --no-audit --no-fund --loglevel=error >/tmp/exmail-npm.log 2>&1) \
    || { tail -n 20 /tmp/exmail-npm.log >&2; say "npm ci failed (full log: /tmp/exmail-npm.log)"; exit 1; }
  cp tests/peers/oidc/package-lock.json tests/peers/oidc/node_modules/.lock-installed
fi

py=${PYTHON:-python3}
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { say "Python 3.11+ is required ($py is $("$py" --version 2>&1))"; exit 1; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  say "installing the project and its dev tools into .venv"
  .venv/bin/python -m pip install -q -U pip >/tmp/exmail-pip.log 2>&1 \
    && .venv/bin/python -m pip install -q -e '.[dev]' >>/tmp/exmail-pip.log 2>&1 \
    || { tail -n 30 /tmp/exmail-pip.log >&2; say "pip install failed (full log: /tmp/exmail-pip.log)"; exit 1; }
  rm -f .venv/.installed-*; touch "$stamp"
fi

ops/kafka/kafka.sh fetch >/dev/null
[ -n "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null)" ] || ops/postgres/postgres.sh start >/dev/null
say "ready"
