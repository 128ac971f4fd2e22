#!/usr/bin/env bash
# The newcomer's entry point; every command does its own set-up.
#   ./dev.sh demo          the end-to-end demo: simulate a book, run the engine over it
#                          (learning online), print alerts and the early-warning figures
#   ./dev.sh test [ARGS]   the test suite (unit, contract, integration on a real Apache Kafka)
#   ./dev.sh setup         only create .venv and install streamer with its extras
set -euo pipefail
cd "$(dirname "$0")"
VENV=${STREAMER_VENV:-.venv}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[runtime,evaluate,dev]"
    touch "$VENV/.installed"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  demo)
    # Until the Kafka demo lands (issue 4), the demo runs the same engine over a file.
    setup
    d=${STREAMER_DEMO_DIR:-out/demo}
    mkdir -p "$d"
    S="$VENV/bin/streamer"
    "$S" simulate --scenario industry_downturn --borrowers 3000 --seed 1001 \
      --out "$d/history.jsonl" --truth "$d/history-truth.jsonl"
    "$S" replay "$d/history.jsonl" --save-model "$d/model.snap"
    "$S" simulate --scenario industry_downturn --borrowers 3000 --seed 42 \
      --out "$d/events.jsonl" --truth "$d/truth.jsonl"
    "$S" replay "$d/events.jsonl" --model "$d/model.snap" --alerts "$d/alerts.jsonl" \
      --scores "$d/scores.jsonl" --examples "$d/examples.jsonl"
    echo "a few of the alerts (tier, borrower, score, top reason, action):"
    "$VENV/bin/python" - "$d/alerts.jsonl" <<'PY'
import json, sys
alerts = [json.loads(line) for line in open(sys.argv[1])]
shown = [a for a in alerts if a["kind"] in ("raised", "escalated")][-12:]
for a in shown:
    r = a["reasons"][0] if a["reasons"] else {"feature": "-", "value": 0}
    print(f"  {a['ts'][:10]} {a['tier']:<8} {a['borrower_id']} score {a['score']:.2f} "
          f"{r['feature']}={r['value']:.2f} -> {a['recommended_action']}")
PY
    "$S" evaluate --events "$d/events.jsonl" --truth "$d/truth.jsonl" --alerts "$d/alerts.jsonl" \
      --scores "$d/scores.jsonl" --examples "$d/examples.jsonl" --out "$d"
    ;;
  test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: ./dev.sh demo|test|setup [ARGS]" >&2; exit 2 ;;
esac
