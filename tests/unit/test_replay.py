"""`streamer replay` end to end on a simulated portfolio: outputs honour the contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from streamer import cli
from streamer.simulate import generate

SCHEMAS = Path(__file__).resolve().parents[2] / "topics" / "schemas"


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "events.jsonl"
    lines = [json.dumps(e).encode() for _, _, e in generate("industry_downturn", 200,
                                                             days=200, seed=5).events()]
    # Poison, at known line numbers: malformed JSON, a wrong type, and a duplicate.
    lines.insert(10, b'{"event_id": "broken"')
    lines.insert(20, b'{"event_id":"x","type":"payment","borrower_id":"b1","ts":"2026-01-02T00:00:00Z",'
                     b'"v":1,"loan_id":"L","amount":"ten"}')
    lines.insert(30, lines[29])
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_replay(portfolio: Path, tmp_path: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    code = cli.main(["replay", str(portfolio), "--alerts", str(out / "alerts.jsonl"),
                     "--scores", str(out / "scores.jsonl"), "--examples",
                     str(out / "examples.jsonl"), "--quiet", *extra])
    return code, out


def validate_all(path: Path, schema_name: str) -> list[dict]:
    schema = json.loads((SCHEMAS / schema_name).read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    for doc in docs:
        validator.validate(doc)
    return docs


def test_replay_outputs_validate_and_bad_lines_are_reported(portfolio, tmp_path, capsys):
    code, out = run_replay(portfolio, tmp_path, "--save-model", str(tmp_path / "m.snap"))
    captured = capsys.readouterr()
    assert code == 0
    assert f"{portfolio}:11: not valid JSON" in captured.err
    assert f"{portfolio}:21: Expected `float`, got `str` - at `$.amount`" in captured.err
    assert "(2 invalid, 1 duplicate" in captured.out
    alerts = validate_all(out / "alerts.jsonl", "alert.json")
    scores = validate_all(out / "scores.jsonl", "score.json")
    examples = validate_all(out / "examples.jsonl", "training_example.json")
    n_events = len(portfolio.read_bytes().splitlines())
    macro = portfolio.read_bytes().count(b'"macro_indicator"')
    assert len(scores) == n_events - 3 - macro  # every valid borrower event is scored once
    assert alerts and examples
    assert len({a["alert_id"] for a in alerts}) == len(alerts)
    assert (tmp_path / "m.snap").read_bytes().startswith(b"STRMSNAP1")
    # the trainer's progressive quality, both targets (early labels only from current borrowers)
    assert re.search(r"rolling ROC AUC.*champion [01]\.\d{3}.* early [01]\.\d{3}", captured.out)
    assert any(e["early_label"] is None for e in examples)
    assert {e["early_label"] for e in examples} >= {0}


def test_frozen_replay_is_deterministic(portfolio, tmp_path):
    code, _ = run_replay(portfolio, tmp_path / "a", "--save-model", str(tmp_path / "m.snap"))
    assert code == 0
    runs = []
    for name in ("b", "c"):
        code, out = run_replay(portfolio, tmp_path / name, "--model", str(tmp_path / "m.snap"),
                               "--freeze")
        assert code == 0
        runs.append([(a["alert_id"], a["tier"], a["score"]) for a in
                     map(json.loads, (out / "alerts.jsonl").read_text().splitlines())])
    assert runs[0] == runs[1] and runs[0]


def test_freeze_without_a_model_is_a_usage_error(portfolio, capsys):
    assert cli.main(["replay", str(portfolio), "--freeze"]) == 2
    assert "--freeze needs --model" in capsys.readouterr().err


def test_a_forged_model_is_refused(portfolio, tmp_path, capsys):
    forged = tmp_path / "forged.snap"
    forged.write_bytes(b"STRMSNAP1" + b"\0" * 32 + b"payload")
    assert cli.main(["replay", str(portfolio), "--model", str(forged), "--quiet"]) == 2
    assert "signature does not match" in capsys.readouterr().err


def test_a_replay_from_a_snapshot_publishes_at_its_own_pace(portfolio, tmp_path):
    from streamer.core.trainer import Trainer
    from streamer.replay import replay
    from streamer.settings import Settings

    code, _ = run_replay(portfolio, tmp_path / "a", "--save-model", str(tmp_path / "m.snap"))
    assert code == 0
    snap = (tmp_path / "m.snap").read_bytes()
    runs = {}
    for every in (200, 1000):
        summary, engine, trainer = replay(portfolio, settings=Settings(publish_every=every),
                                          model=snap)
        runs[every] = trainer.version
        assert trainer.publish_every == every
    before = Trainer.restore(snap, Settings().model_key_bytes)
    seen, n = before.examples, summary.examples
    for every, version in runs.items():  # a snapshot every `every` examples the trainer saw
        assert version - before.version == (seen + n) // every - seen // every


def test_replay_goes_through_any_bytes_and_reports_each_bad_line(tmp_path, capsys, monkeypatch):
    """Every crafted kind, random bytes, invalid UTF-8 and a last line without a newline:
    each bad line is reported as FILE:LINE: reason, the good ones are scored, exit 0."""
    from streamer import replay as replay_module
    from tests.conftest import event, opened, raw
    from tests.unit.crafted import crafted, random_messages

    bad = [(value, fragment) for _, value, fragment in crafted() if b"\n" not in value]
    bad += [(value, "") for value in random_messages(seed=7, n=300)
            if b"\n" not in value and not value.isspace() and value]
    lines: list[bytes] = [raw(opened("b1"))]
    expected: dict[int, str] = {}  # line number -> reason fragment
    for value, fragment in bad:
        lines.append(value)
        expected[len(lines)] = fragment
    lines.append(raw(event("payment", 1, "b1", loan_id="L1", amount=5)))
    lines.append(b'{"event_id": "last", "counterparty": "Li Lei 13800138000"')  # no newline
    expected[len(lines)] = "not valid JSON: Input data was truncated"
    path = tmp_path / "poison.jsonl"
    path.write_bytes(b"\n".join(lines))

    code, out = run_replay(path, tmp_path)
    captured = capsys.readouterr()
    assert code == 0
    reported = [line for line in captured.err.splitlines() if line.startswith(f"{path}:")]
    assert len(reported) == replay_module.MAX_REPORTED  # capped as before
    assert "more invalid lines" in captured.err
    scored = (out / "scores.jsonl").read_text()
    assert '"ts":"2026-01-01T00:00:00+00:00"' in scored  # the good lines around the poison
    assert '"ts":"2026-01-02T00:00:00+00:00"' in scored

    monkeypatch.setattr(replay_module, "MAX_REPORTED", 10**6)
    import io

    errors = io.StringIO()
    summary, _, _ = replay_module.replay(path, learn=False, errors=errors)
    reasons = {}
    for line in errors.getvalue().splitlines():
        where, _, reason = line.partition(": ")
        reasons[int(where.rsplit(":", 1)[1])] = reason
    invalid = {n for n in expected if not _decodes(lines[n - 1])}
    assert set(reasons) == invalid and summary.invalid == len(invalid) > 200
    for n in invalid:
        assert expected[n] in reasons[n], (n, lines[n - 1][:80], reasons[n])
    assert "13800138000" not in errors.getvalue() and "Li Lei" not in errors.getvalue()


def _decodes(value: bytes) -> bool:
    from streamer.core import events

    try:
        events.decode(value)
    except events.InvalidEvent:
        return False
    return True
