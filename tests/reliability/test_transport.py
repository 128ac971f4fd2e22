"""Scenario 12 (issue 7): the transport -- SASL_SSL with SCRAM-SHA-512, and the production profile.

A broker of its own (deploy/kafka/kafka.sh; KAFKA_EXTRA_CONFIG adds a SASL_SSL listener,
KAFKA_FORMAT_ARGS creates the SCRAM-SHA-512 user at format time) with a certificate
signed by a CA made here (openssl; the worker trusts it through STREAMER_SSL_CAFILE).
The broker keeps its PLAINTEXT listener on loopback for kafka.sh's readiness probe; the
workers only ever get the SASL_SSL port.

Pass: a worker with the production profile (SASL_SSL, a 32+ character model key) and
the right password connects, scores a small book and its alerts equal the oracle's;
with a wrong password `streamer worker` exits non-zero within 30 s with one line; with
STREAMER_PROFILE=production and PLAINTEXT it refuses to start (one line, exit 2).
Unsigned or forged model snapshots are refused by every worker (tested in
tests/integration/test_runtime.py, test_forged_and_unsigned_snapshots_are_refused...).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streamer.core.model import MAGIC, sign
from tests.integration.conftest import (
    Deployment,
    KafkaBroker,
    _free_port,
    alerts_of,
    assert_same_alerts,
    produce_items,
    wait_processed,
)
from tests.reliability.conftest import RELIABILITY_ENV, workload

USER, PASSWORD = "streamer-worker", "right-password-9f2c"
MODEL_KEY = "k" * 40
EXIT_BOUND_S = 30.0
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


def make_certificates(d: Path) -> tuple[Path, Path]:
    """(CA certificate, broker key+certificate PEM for 127.0.0.1), made with openssl."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=streamer-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "broker.crt", "-days", "2", "-extfile", "san.ext")
    run("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.p8")
    pem = d / "broker.pem"
    pem.write_text((d / "broker.p8").read_text() + (d / "broker.crt").read_text())
    return d / "ca.pem", pem


def sasl_broker(tmp: Path) -> tuple[KafkaBroker, str, Path]:
    """(broker, its SASL_SSL bootstrap address, the CA file), started."""
    certs = tmp / "certs"
    certs.mkdir()
    ca, pem = make_certificates(certs)
    broker = KafkaBroker(tmp / "kafka")
    port, cport, sport = (broker.env["KAFKA_PORT"], broker.env["KAFKA_CONTROLLER_PORT"],
                          _free_port())
    extra = tmp / "sasl.properties"
    extra.write_text(f"""\
listeners=PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sport},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sport}
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={SCRAM_MODULE} required;
ssl.keystore.type=PEM
ssl.keystore.location={pem}
""")
    broker.env["KAFKA_EXTRA_CONFIG"] = str(extra)
    broker.env["KAFKA_FORMAT_ARGS"] = f"--add-scram SCRAM-SHA-512=[name={USER},password={PASSWORD}]"
    broker.start()
    return broker, f"127.0.0.1:{sport}", ca


def run_worker(env: dict[str, str], timeout: float = 90) -> tuple[int, str, float]:
    """`streamer worker` until it exits: (status, stderr, seconds)."""
    full = {**os.environ, **env, "STREAMER_METRICS_ADDR": f"127.0.0.1:{_free_port()}"}
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "streamer.cli", "worker"], env=full,
                         capture_output=True, text=True, timeout=timeout)
    return out.returncode, out.stderr, time.monotonic() - t0


@pytest.mark.reliability_slow
def test_sasl_ssl_scram_and_the_production_profile(frozen_snapshot: bytes, tmp_path: Path,
                                                  figures: dict[str, Any]) -> None:
    broker, bootstrap, ca = sasl_broker(tmp_path)
    d = None
    try:
        secure = {"STREAMER_SECURITY_PROTOCOL": "SASL_SSL",
                  "STREAMER_SASL_MECHANISM": "SCRAM-SHA-512", "STREAMER_SASL_USERNAME": USER,
                  "STREAMER_SASL_PASSWORD": PASSWORD, "STREAMER_SSL_CAFILE": str(ca),
                  "STREAMER_PROFILE": "production", "STREAMER_MODEL_KEY": MODEL_KEY}
        d = Deployment(bootstrap, tmp_path, **RELIABILITY_ENV, **secure)
        # the frozen model, signed with this deployment's key
        model = sign(frozen_snapshot[len(MAGIC) + 32:], MODEL_KEY.encode())
        w = workload(d, model, tmp_path, seed=80, borrowers=60, days=180)
        worker = d.start_worker()
        worker.wait_ready()
        produce_items(d.settings, w.items)
        wait_processed(d, worker)
        assert_same_alerts(alerts_of(d.settings), w.expected)
        assert worker.stop() == 0

        code, err, seconds = run_worker({**d.env, "STREAMER_SASL_PASSWORD": "wrong-password"})
        lines = err.strip().splitlines()
        figures.update(right_password_alerts=len(w.expected), wrong_password_exit=code,
                       wrong_password_s=round(seconds, 1), wrong_password_line=lines[-1][:160]
                       if lines else "")
        assert code != 0 and len(lines) == 1, err[-2000:]
        assert seconds <= EXIT_BOUND_S
        assert "refused the connection" in lines[0] and "SaslAuthenticationFailed" in lines[0], \
            lines[0]

        plain = {**d.env, "STREAMER_SECURITY_PROTOCOL": "PLAINTEXT",
                 "STREAMER_BOOTSTRAP_SERVERS": broker.bootstrap}
        code, err, _ = run_worker(plain, timeout=60)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "refuses an unencrypted connection" in err
        figures["plaintext_in_production"] = err.strip()[:100]
    finally:
        if d is not None:
            d.close()
        broker.close()
