"""Prometheus for the tests: Debian's `prometheus` and `promtool` (installed when missing),
and the expressions of the project's dashboards and rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROM_DIR = REPO / "deploy" / "prometheus"
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))


def ensure_prometheus() -> tuple[str, str]:
    """Paths of `prometheus` and `promtool`, installed from Debian if missing."""
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        try:
            for cmd in (["apt-get", "install", "-y", "-q", "prometheus"],
                        ["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "prometheus"]):
                if shutil.which("prometheus") and shutil.which("promtool"):
                    break
                subprocess.run(cmd, capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prom and tool):
        pytest.fail("prometheus/promtool are not installed and `apt-get install prometheus` "
                    "did not work (run ./dev.sh setup as root)", pytrace=False)
    return prom, tool


# -- the queries under test ----------------------------------------------------------------
def dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        for panel in d["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{d['title']} / {panel['title']}", target["expr"]))
    return out


def rules(kind: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((PROM_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if kind in rule:
                    out.append((rule[kind], rule["expr"]))
    return out


_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}


def selectors(expr: str) -> list[str]:
    """The vector selectors of a PromQL expression (metric name and label matchers)."""
    found = re.findall(r"[a-zA-Z_:][\w:]*\{[^}]*\}", expr)
    rest = re.sub(r"[a-zA-Z_:][\w:]*\{[^}]*\}", " ", expr)
    rest = re.sub(r'"[^"]*"', " ", rest)
    rest = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)
    rest = re.sub(r"\boffset\s+\w+", " ", rest)
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)\s*(\()?", rest):
        name, call = m.group(1), m.group(2)
        if not call and name.lower() not in _KEYWORDS and not re.fullmatch(r"\d.*", name):
            found.append(name)
    return found
