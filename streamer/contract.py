"""The machine-readable contract in `topics/`: topic definitions and generated JSON Schemas.

The JSON Schemas are generated from the code's types (`events.py`, `outputs.py`), so the
decoder and the schemas cannot disagree; `python -m streamer.contract` rewrites them and
`python -m streamer.contract --check` (and a test) fails when they are stale.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from streamer.core.events import INPUT_TYPES
from streamer.core.outputs import OUTPUT_TYPES

TOPICS_DIR = Path(__file__).resolve().parent.parent / "topics"

# The topics' names in topics.yaml (STREAMER_TOPIC_PREFIX is put before them on a cluster).
INPUT_TOPICS = ("credit.accounts", "credit.repayments", "credit.transactions",
                "collections.actions")
MACRO_TOPIC = "macro.indicators"
ALERTS, SCORES, DEADLETTER = "risk.alerts", "risk.scores", "risk.deadletter"
TRAINING, MODELS = "risk.training", "risk.models"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    cleanup_policy: str
    retention_ms: int
    types: tuple[str, ...]
    description: str


def load_topics(path: Path | None = None) -> list[TopicSpec]:
    data = yaml.safe_load((path or TOPICS_DIR / "topics.yaml").read_text())
    return [TopicSpec(name=t["name"], partitions=int(t["partitions"]), key=t["key"],
                      cleanup_policy=t["cleanup_policy"], retention_ms=int(t["retention_ms"]),
                      types=tuple(t.get("types", ())), description=t["description"].strip())
            for t in data["topics"]]


def schemas() -> dict[str, dict]:
    """Schema file name -> JSON Schema, for every event type and output record."""
    out = {}
    named = [(t.__struct_config__.tag, t) for t in INPUT_TYPES] + list(OUTPUT_TYPES.items())
    for name, typ in named:
        schema = msgspec.json.schema(typ)
        out[f"{name}.json"] = {"$schema": DIALECT, "$id": f"streamer/v1/{name}.json", **schema}
    return out


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def stale(directory: Path | None = None) -> list[str]:
    """Schema files that are missing or differ from what the code generates."""
    directory = directory or TOPICS_DIR / "schemas"
    bad = []
    for name, schema in schemas().items():
        path = directory / name
        if not path.exists() or path.read_text() != render(schema):
            bad.append(name)
    return bad


def main(argv: list[str]) -> int:
    directory = TOPICS_DIR / "schemas"
    if "--check" in argv:
        bad = stale(directory)
        if bad:
            print("stale schemas (run python -m streamer.contract): " + ", ".join(bad))
            return 1
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (directory / name).write_text(render(schema))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
