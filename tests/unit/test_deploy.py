"""deploy/ as code: dashboards, docker compose and Kubernetes manifests, checked offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"


# -- Grafana ------------------------------------------------------------------------------
def test_four_dashboards_every_panel_has_a_datasource_a_title_a_unit_and_a_query() -> None:
    boards = {p.name: json.loads(p.read_text()) for p in (GRAFANA / "dashboards").glob("*.json")}
    assert sorted(d["title"] for d in boards.values()) == [
        "Early warnings", "Model", "Pipeline", "Portfolio risk"]
    uids = [d["uid"] for d in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, d in boards.items():
        assert d["panels"], name
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids), name
        for p in d["panels"]:
            where = f"{name}: {p.get('title')!r}"
            assert p.get("title"), where
            assert p.get("description"), f"{where}: say which question the panel answers"
            assert p["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            assert p["fieldConfig"]["defaults"].get("unit"), where
            assert p["targets"], where
            for t in p["targets"]:
                assert t["expr"].strip() and t["datasource"] == p["datasource"], where
                assert "$" not in t["expr"].replace('"$1"', ""), \
                    f"{where}: Grafana variables cannot be checked against Prometheus"
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24, where


def test_grafana_provisioning_points_at_the_dashboards_and_the_datasource_uid() -> None:
    import yaml

    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == "prometheus" and source["type"] == "prometheus"
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "streamer.yml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
