"""The embedded broker's wrapper when there is no broker: a binary that dies, a silent port."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.runtime.embedded import BrokerUnavailableError, EmbeddedBroker, wait_for_kafka


def test_embedded_broker_failure_shows_log(tmp_path: Path) -> None:
    """A broker process that dies at once is reported with its output."""
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'fake broker: cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    broker = EmbeddedBroker(binary=fake, startup_timeout=10)
    # reported as the process's exit, not as a broker that never answered (10 s)
    with pytest.raises(BrokerUnavailableError, match="(?s)exited with code 3.*cannot start"):
        broker.start()
    assert broker.log_path is not None and broker.log_path.exists()  # kept for post-mortems
    broker.stop()
    assert broker.log_path is None


def test_wait_for_kafka_times_out_on_silent_port() -> None:
    with pytest.raises(BrokerUnavailableError, match="127.0.0.1:9"):
        wait_for_kafka("127.0.0.1:9", timeout=1.0)
