"""The Prometheus config, rules and rule tests, checked by promtool (no broker needed); the
queries themselves run against a live worker in tests/integration/test_prometheus.py."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.prom import PROM_DIR, ensure_prometheus, rules, selectors


@pytest.fixture(scope="module")
def promtool() -> str:
    return ensure_prometheus()[1]


def test_selectors_finds_every_metric_of_an_expression() -> None:
    expr = ('sum by (topic) (rate(x_total{a="b"}[5m])) / on (topic) group_left '
            'label_replace(y, "t", "$1", "u", "(.*)") > bool 3 * z offset 1d')
    assert selectors(expr) == ['x_total{a="b"}', "y", "z"]


def test_promtool_checks_the_config_and_the_rules(promtool: str) -> None:
    out = subprocess.run([promtool, "check", "config", str(PROM_DIR / "prometheus.yml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    files = sorted(str(p) for p in (PROM_DIR / "rules").glob("*.yml"))
    out = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    for name, _ in rules("alert"):
        assert name.startswith("Streamer")


def test_promtool_rule_tests_pass_and_cover_every_alert(promtool: str) -> None:
    tests = sorted((PROM_DIR / "tests").glob("*.yml"))
    covered = {t["alertname"] for path in tests
               for case in yaml.safe_load(path.read_text())["tests"]
               for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert covered == {name for name, _ in rules("alert")}, "alerts without a firing test"
    for path in sorted((PROM_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["annotations"].get("runbook"), rule["alert"]
    out = subprocess.run([promtool, "test", "rules", *map(str, tests)], capture_output=True,
                         text=True, timeout=120, cwd=PROM_DIR / "tests")
    assert out.returncode == 0, out.stdout + out.stderr
