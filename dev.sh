#!/usr/bin/env bash
# The newcomer's entry point; every command does its own set-up.
#   ./dev.sh demo [ARGS]   the end-to-end demo on the embedded broker (`streamer demo --help`)
#   ./dev.sh test [ARGS]   the test suite (unit, contract, integration on a real Apache Kafka,
#                          the fast reliability scenarios)
#   ./dev.sh test -m reliability tests/reliability   every reliability scenario (~12 min)
#   ./dev.sh setup         only create .venv and install streamer with its extras
#   ./dev.sh lock          write constraints.txt from .venv (after a tested upgrade)
set -euo pipefail
cd "$(dirname "$0")"
VENV=${STREAMER_VENV:-.venv}

setup() {
  # kcat: the non-Python downstream client of the integration tests;
  # prometheus (with promtool): the dashboards' and rules' tests (tests/integration/test_prometheus.py);
  # chromium: the browser Playwright drives in tests/integration/test_report_browser.py
  for pkg in kcat:kcat prometheus:promtool chromium:chromium; do
    command -v "${pkg#*:}" >/dev/null || { [ "$(id -u)" = 0 ] && { apt-get install -y -q "${pkg%%:*}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${pkg%%:*}" >/dev/null 2>&1; }; } || true; }
  done
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  # constraints.txt: the exact versions the tests passed with (streamer/faust015 refuses
  # any other Faust, mode or aiokafka); regenerate it with `./dev.sh lock` after an upgrade
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ] \
      || [ constraints.txt -nt "$VENV/.installed" ]; then
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -c constraints.txt -e ".[runtime,evaluate,dev]"
    touch "$VENV/.installed"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  demo) setup; exec "$VENV/bin/streamer" demo "$@" ;;
  test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
  lock) setup; "$VENV/bin/pip" freeze --exclude-editable | grep -v -i -E '^(pip|setuptools|wheel|ruff)==' \
          > constraints.txt; echo "constraints.txt: $(wc -l < constraints.txt) pins" ;;
  *) echo "usage: ./dev.sh demo|test|setup|lock [ARGS]" >&2; exit 2 ;;
esac
