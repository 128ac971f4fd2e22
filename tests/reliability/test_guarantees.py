"""Scenario 2 (issue 7): `processing_guarantee=exactly_once`.

The issue asked to run scenario 1 (kill -9 three times) with Faust's exactly_once and
report what is seen, losing nothing. The runtime does not offer it: `streamer worker`
sends its outputs in acknowledged batches (at least once) and every alert carries a
stable alert_id for the downstream dedupe (see streamer/runtime/app.py and worker.py), so with
exactly_once it refuses to start. What is tested here is that refusal: exit status 2
and one line saying why and what to use instead -- before touching Kafka (the
bootstrap address below has no broker).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.conftest import _free_port


def test_exactly_once_is_refused_with_one_clear_line() -> None:
    env = {**os.environ, "STREAMER_PROCESSING_GUARANTEE": "exactly_once",
           "STREAMER_BOOTSTRAP_SERVERS": f"127.0.0.1:{_free_port()}",
           "STREAMER_METRICS_ADDR": f"127.0.0.1:{_free_port()}"}
    out = subprocess.run([sys.executable, "-m", "streamer.cli", "worker"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "exactly_once is not supported" in lines[0] and "at_least_once" in lines[0]
