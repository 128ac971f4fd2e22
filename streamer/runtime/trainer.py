"""`streamer trainer`: the process that learns, apart from the workers that score.

It reads risk.training in a consumer group of its own (``<STREAMER_APP_ID>-trainer``),
learns every labeled example, and publishes signed snapshots to risk.models, which every
worker loads. It resumes from the newest snapshot there. Run one, and run the workers
with STREAMER_TRAINING=off: a worker then spends no time learning, and a backlog of
examples holds back no alert. (A worker with STREAMER_TRAINING=on learns in its own
process instead: one process for everything, as the demo runs.)

Settings, topic check, probes (/metrics, /healthz, /readyz) and exit statuses are the
worker's (`streamer/runtime/worker.py`).
"""

from __future__ import annotations

import argparse

from streamer.runtime import worker


def add_arguments(parser: argparse.ArgumentParser) -> None:
    worker.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return worker.run(args, role="trainer")
