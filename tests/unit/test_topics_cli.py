"""`streamer topics` without a cluster: bad arguments and an unreachable one."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_unreachable_cluster_is_one_line_and_nonzero() -> None:
    out = subprocess.run([sys.executable, "-m", "streamer.cli", "topics", "apply",
                          "--bootstrap", "127.0.0.1:9", "--timeout", "3"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("streamer topics:")


@pytest.mark.parametrize("bad", ["0", "-3"])
def test_bad_partitions_exit_2(bad: str) -> None:
    out = subprocess.run([sys.executable, "-m", "streamer.cli", "topics", "apply",
                          "--partitions", bad], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
