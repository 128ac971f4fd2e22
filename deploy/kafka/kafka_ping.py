#!/usr/bin/env python3
"""Answer whether a Kafka broker serves clients: ``kafka_ping.py [-v] HOST:PORT [TIMEOUT_S]``.

Exit 0 once the broker answers an ApiVersions request *and* a Metadata request that
lists at least one broker; exit 1 otherwise. Standard library only, so that
``kafka.sh`` works before any virtualenv exists (CI calls it first thing).

Why two requests: a KRaft broker binds its port early but only processes requests
once it has caught up with the metadata log, and a broker that is still fenced
returns no brokers in Metadata, which clients treat as "not ready" anyway.
"""

from __future__ import annotations

import socket
import struct
import sys

API_VERSIONS = 18
METADATA = 3
# Metadata v4 is the oldest version Kafka 4.x still serves (KIP-896 dropped v0-v3)
# and the newest with the plain (non-flexible) encoding, which keeps parsing trivial.
METADATA_VERSION = 4


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    client_id = b"streamer-kafka-ping"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _read_exact(sock, 4))[0]
    data = _read_exact(sock, size)
    (got_corr,) = struct.unpack(">i", data[:4])
    if got_corr != corr:
        raise RuntimeError(f"correlation id {got_corr} != {corr}")
    return data[4:]


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def ping(bootstrap: str, timeout: float = 3.0) -> int:
    """Return the number of brokers the cluster reports; raise if it does not answer."""
    host, _, port = bootstrap.rpartition(":")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        resp = _request(sock, API_VERSIONS, 0, 1, b"")
        (error,) = struct.unpack(">h", resp[:2])
        if error:
            raise RuntimeError(f"ApiVersions error code {error}")
        # topics=[] (only brokers wanted), allow_auto_topic_creation=false
        resp = _request(sock, METADATA, METADATA_VERSION, 2, struct.pack(">i?", 0, False))
        _throttle, n_brokers = struct.unpack(">ii", resp[:8])
        if n_brokers < 1:
            raise RuntimeError("Metadata lists no brokers yet")
        return n_brokers


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    args = [a for a in argv[1:] if a != "-v"]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        ping(args[0], float(args[1]) if len(args) > 1 else 3.0)
    except (OSError, RuntimeError, struct.error, ValueError) as exc:
        if verbose:
            print(f"kafka_ping {args[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
