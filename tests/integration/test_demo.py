"""`streamer demo` end to end on the embedded broker: the newcomer's first command."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_addr() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "STREAMER_METRICS_ADDR": _free_addr(),
            "STREAMER_DATA_DIR": str(tmp_path / "data")}


def test_demo_runs_for_60_s_and_prints_alerts(tmp_path: Path) -> None:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "streamer.cli", "demo", "--duration", "60"],
                         env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    elapsed = time.monotonic() - started
    text = out.stdout
    assert out.returncode == 0, f"{text[-3000:]}\n{out.stderr[-3000:]}"
    assert "starting the embedded broker" in text
    assert "the worker is ready" in text
    assert "published the starter model" in text
    alerts = [ln for ln in text.splitlines() if " ALERT " in ln]
    assert len(alerts) >= 10, text[-3000:]
    # tier, borrower, what decided it, scores, recommended action, the reasons in words
    # by default only what asks someone to act: raised or escalated to high or critical
    assert all(re.search(r" (high|critical) +b\d+ +(raised|escalated) ", ln) for ln in alerts)
    assert re.search(r"ALERT .* (high|critical) +b\d+ +(raised|escalated) +by "
                     r"(dpd_floor|default_score|early_score) +score 0\.\d\d.* action \w+ "
                     r".*\): \S.*", alerts[0]), alerts[0]
    assert not any(re.search(r"[a-z]_[a-z]+=\d", line) for line in alerts), alerts[:5]
    summaries = [ln for ln in text.splitlines() if " summary: " in ln]
    assert summaries and "processed by the worker" in summaries[-1]
    held = re.search(r"borrowers under each tier now: watch (\d+), high (\d+), critical (\d+)",
                     summaries[-1])
    assert held and sum(map(int, held.groups())) > 0, summaries[-1]
    final = [ln for ln in text.splitlines() if " final: " in ln]
    assert final and "model v" in final[-1] and "(ready)" in final[-1]
    # the portfolio report of what was streamed and alerted, written at the end
    report = re.search(r"\] report: (\S+/report\.html)$", text, re.MULTILINE)
    assert report, text[-3000:]
    page = Path(report.group(1)).read_text()
    assert page.count("<svg") == 8 and "Portfolio report" in page
    assert 55 < elapsed < 120, elapsed


def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "streamer.cli", "demo"], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if " ALERT " in line or time.monotonic() > deadline:
                break
        assert any(" ALERT " in ln for ln in lines), "".join(lines[-40:])
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, "".join(lines[-20:]) + rest[-3000:]
    assert " final: " in rest
