"""topics/ is the contract: schemas match the code, examples satisfy both."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import msgspec
import pytest

from streamer import contract
from streamer.core import events, outputs

TOPICS = Path(__file__).resolve().parents[2] / "topics"
EXAMPLES = sorted((TOPICS / "examples").glob("*.json"))


def test_schema_files_are_generated_from_the_code():
    assert contract.stale() == [], "run: python -m streamer.contract"


def test_a_changed_schema_file_is_detected(tmp_path):
    for name, schema in contract.schemas().items():
        (tmp_path / name).write_text(contract.render(schema))
    assert contract.stale(tmp_path) == []
    path = tmp_path / "payment.json"
    path.write_text(path.read_text().replace('"amount"', '"amount_cny"'))
    assert contract.stale(tmp_path) == ["payment.json"]


def test_every_type_has_a_schema_and_an_example():
    names = {p.stem for p in EXAMPLES}
    expected = set(events.TYPE_NAMES) | set(outputs.OUTPUT_TYPES)
    assert names == expected
    assert {p.stem for p in (TOPICS / "schemas").glob("*.json")} == expected


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_validate_against_the_schema_and_the_decoder(path):
    doc = json.loads(path.read_text())
    schema = json.loads((TOPICS / "schemas" / path.name).read_text())
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    if path.stem in events.TYPE_NAMES:
        decoded = events.decode(path.read_bytes())
        assert decoded.__struct_config__.tag == path.stem
    else:
        msgspec.json.decode(path.read_bytes(), type=outputs.OUTPUT_TYPES[path.stem])


def test_schema_rejects_what_the_decoder_rejects():
    schema = json.loads((TOPICS / "schemas" / "payment.json").read_text())
    doc = json.loads((TOPICS / "examples" / "payment.json").read_text())
    doc["amount"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    with pytest.raises(events.InvalidEvent):
        events.decode(json.dumps(doc).encode())


def test_topics_cover_every_type_and_keys_are_declared():
    specs = contract.load_topics()
    by_name = {t.name: t for t in specs}
    for topic, types in events.TOPIC_TYPES.items():
        assert by_name[topic].types == types
    assert by_name["risk.scores"].cleanup_policy == "compact"
    assert by_name["risk.models"].cleanup_policy == "compact"
    assert by_name["risk.training"].partitions == 1  # one trainer sees every example
    for t in specs:
        assert t.partitions >= 1 and t.key and t.description
        assert t.cleanup_policy in ("delete", "compact")
