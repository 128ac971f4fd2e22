#!/usr/bin/env bash
# Every benchmark of the project, one command: results in benchmarks/results/*.json and a
# Markdown summary with the targets (benchmarks/results/summary.md).
#
#   benchmarks/run.sh            # starts its own Apache Kafka (deploy/kafka/kafka.sh)
#   BENCH_QUICK=1 benchmarks/run.sh   # smaller sizes, one run each: a smoke run
#
# The machine is what it is: every figure is a median of repeated runs with its spread,
# and the worker's throughput is also given as a ratio to a bare aiokafka consumer
# measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
./dev.sh setup >/dev/null
PY=.venv/bin/python

export KAFKA_PORT=${BENCH_KAFKA_PORT:-39392}
export KAFKA_DATA=${TMPDIR:-/tmp}/streamer-bench-kafka-$KAFKA_PORT
bootstrap=$(bash deploy/kafka/kafka.sh start | sed -n 's/^KAFKA_BOOTSTRAP=//p' | tail -1)
trap 'bash deploy/kafka/kafka.sh stop >/dev/null 2>&1 || true' EXIT

if [ -n "${BENCH_QUICK:-}" ]; then
  runs=1; replay=1000; worker=500; memory="100000"; recovery=20000; slide=2000; slide_days=365
else
  runs=3; replay=4000; worker=2000; memory="100000 1000000"; recovery=100000; slide=21000
  slide_days=1095
fi

$PY benchmarks/replay_core.py --borrowers $replay --runs $runs
$PY benchmarks/replay_slide.py --borrowers $slide --days $slide_days
$PY benchmarks/consumer_overhead.py
# as deployed: workers that only score, a trainer beside them
$PY benchmarks/worker_throughput.py --bootstrap "$bootstrap" --borrowers $worker --runs $runs \
  --trainer --out benchmarks/results/worker_throughput.json
$PY benchmarks/worker_throughput.py --embedded --borrowers $worker --runs $runs --workers 1
$PY benchmarks/latency.py --bootstrap "$bootstrap" --runs $runs --rates 1000 2000 5000
$PY benchmarks/recovery.py --bootstrap "$bootstrap" --borrowers $recovery --runs $runs
$PY benchmarks/memory.py --sizes $memory
$PY benchmarks/profile_worker.py --bootstrap "$bootstrap"
$PY benchmarks/summary.py
