#!/usr/bin/env bash
# Early-warning quality per scenario: simulate -> replay -> evaluate.
#
# The model starts from a snapshot learned on another simulated book (a different seed:
# other borrowers, same economy) over the year before the evaluated one, as a lender starts
# from its history, then goes on learning online over the evaluated year. Every score is
# given before its label is known, and the history holds nothing of the evaluated year.
#
#   benchmarks/quality.sh [BORROWERS] [SCENARIO ...]     (defaults: 50000, the four scenarios)
# The evaluated book's latent state (simulate --latent) gives the upper bound beside the
# LightGBM reference: the same model that also sees what the simulator hides.
# Results: out/quality/<scenario>/evaluation.json (+ PNGs); benchmarks/results/quality.md
# (benchmarks/quality_summary.py, run at the end) compares them with issue 3's targets.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000}
shift || true
SCENARIOS=${*:-baseline industry_downturn regional_shock harsh_collections}
HISTORY_N=${HISTORY_N:-10000}
START=2026-01-01          # the evaluated year
HISTORY_START=2025-01-01  # its history: the 365 days before
S=.venv/bin/streamer
OUT=out/quality
mkdir -p "$OUT"
for sc in $SCENARIOS; do
  d="$OUT/$sc"
  mkdir -p "$d"
  git rev-parse --short HEAD > "$d/commit.txt" 2>/dev/null || true  # the code measured
  echo "== $sc: history ($HISTORY_N borrowers, seed 1001, from $HISTORY_START) =="
  $S simulate --scenario "$sc" --borrowers "$HISTORY_N" --seed 1001 --start "$HISTORY_START" \
    --out "$d/history.jsonl" --truth "$d/history-truth.jsonl"
  # its examples: what the model learned before the book (evaluate's known_at_split)
  $S replay "$d/history.jsonl" --save-model "$d/history.model" --examples "$d/history-examples.jsonl" --quiet
  echo "== $sc: evaluated book ($N borrowers, seed 42) =="
  $S simulate --scenario "$sc" --borrowers "$N" --seed 42 --start "$START" --out "$d/events.jsonl" --truth "$d/truth.jsonl" \
    --latent "$d/latent.npz"
  $S replay "$d/events.jsonl" --model "$d/history.model" --alerts "$d/alerts.jsonl" \
    --scores "$d/scores.jsonl" --examples "$d/examples.jsonl" --quiet | tee "$d/replay.txt"
  $S evaluate --events "$d/events.jsonl" --truth "$d/truth.jsonl" --alerts "$d/alerts.jsonl" \
    --scores "$d/scores.jsonl" --examples "$d/examples.jsonl" --latent "$d/latent.npz" \
    --history-examples "$d/history-examples.jsonl" --out "$d" | tee "$d/evaluate.txt"
  rm -f "$d/history.jsonl" "$d/scores.jsonl"  # large; the figures are in evaluation.json
done
.venv/bin/python benchmarks/quality_summary.py "$OUT"
