"""The runtime's commands: arguments, one-line errors, and the settings they derive."""

from __future__ import annotations

import ssl
import subprocess
import sys

import pytest

from streamer.cli import main
from streamer.runtime import topics
from streamer.settings import Settings


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "streamer.cli", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_worker_bad_setting_is_one_line_exit_2() -> None:
    out = run("worker", env={"STREAMER_PARTITIONS": "zero"})
    assert out.returncode == 2
    assert out.stderr.strip() == ("streamer worker: STREAMER_PARTITIONS='zero' is not a valid int; "
                                  "set it like STREAMER_PARTITIONS=4")


def test_demo_bad_argument_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "--rate", "0"]) == 2
    assert "--rate must be > 0" in capsys.readouterr().err


def test_topics_plan_lists_topics_and_changelog(capsys: pytest.CaptureFixture) -> None:
    assert main(["topics", "plan", "--partitions", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_name = {ln.split("\t")[0]: ln.split("\t") for ln in lines}
    assert by_name["credit.accounts"][1] == "8" and by_name["risk.training"][1] == "1"
    assert by_name["streamer-borrowers-changelog"][1:] == [
        "8", "cleanup.policy=compact,retention.ms=-1"]


def test_plan_applies_the_topic_prefix() -> None:
    s = Settings.from_env({"STREAMER_TOPIC_PREFIX": "stg.", "STREAMER_APP_ID": "risk"})
    names = [t.name for t in topics.plan(s)]
    assert "stg.risk.alerts" in names and "risk-borrowers-changelog" in names


def test_client_options_for_sasl_ssl(tmp_path) -> None:
    s = Settings(security_protocol="SASL_SSL", sasl_username="u", sasl_password="p",
                 sasl_mechanism="SCRAM-SHA-256", bootstrap_servers="a:1,b:2")
    opts = topics.client_options(s)
    assert opts["bootstrap_servers"] == ["a:1", "b:2"]
    assert opts["security_protocol"] == "SASL_SSL" and opts["sasl_mechanism"] == "SCRAM-SHA-256"
    assert isinstance(opts["ssl_context"], ssl.SSLContext)


def test_faust_settings_keep_private_endpoints_off() -> None:
    from streamer.runtime.app import credentials, faust_settings

    conf = faust_settings(Settings())
    assert conf["web_bind"] == "127.0.0.1" and conf["topic_allow_declare"] is False
    for name in ("web_tables_enabled", "web_router_enabled", "web_graph_enabled",
                 "web_stats_enabled"):
        assert conf[name] is False
    assert faust_settings(Settings(web_port=0))["web_enabled"] is False
    sasl = credentials(Settings(security_protocol="SASL_SSL", sasl_username="u",
                                sasl_password="p"))
    assert sasl.protocol.value == "SASL_SSL" and sasl.mechanism.value == "SCRAM-SHA-512"
    assert credentials(Settings()) is None


def test_faust_knobs_reach_faust_and_their_defaults_are_fausts() -> None:
    from streamer.runtime.app import faust_settings

    default = faust_settings(Settings())
    assert (default["cython_optimizations"], default["stream_buffer_maxsize"],
            default["broker_max_poll_records"]) == (False, 4096, None)
    tuned = faust_settings(Settings.from_env({
        "STREAMER_FAUST_CYTHON": "on", "STREAMER_STREAM_BUFFER_MAXSIZE": "131072",
        "STREAMER_MAX_POLL_RECORDS": "2000"}))
    assert (tuned["cython_optimizations"], tuned["stream_buffer_maxsize"],
            tuned["broker_max_poll_records"]) == (True, 131072, 2000)


def test_other_faust_versions_are_refused_in_one_line(tmp_path) -> None:
    """streamer/faust015 was proven on exact versions: any other stops `streamer worker`
    (exit 2) with one line that says what is installed, what is needed and how to fix it."""
    from streamer.faust015 import PROVEN, UnprovenVersion, check_versions

    check_versions()  # the installed ones are the proven ones
    with pytest.raises(UnprovenVersion, match=r"faust-streaming 0\.15\.3 \(needs 0\.16\.0\)"):
        check_versions({**PROVEN, "faust-streaming": "0.16.0"})
    # the command: importlib.metadata reports another aiokafka before streamer starts
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.metadata as m\n_v = m.version\n"
        "m.version = lambda name: '0.13.0' if name == 'aiokafka' else _v(name)\n")
    out = run("worker", "--no-topic-check", env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("streamer worker: ") and "aiokafka 0.13.0 (needs 0.14.0)" in line
    assert "pip install -c constraints.txt" in line
