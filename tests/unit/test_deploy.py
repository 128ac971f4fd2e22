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


# -- docker compose -------------------------------------------------------------------------
def compose() -> dict:
    import yaml

    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def streamer_variables() -> set[str]:
    from dataclasses import fields

    from streamer.settings import Settings

    return {"STREAMER_" + f.name.upper() for f in fields(Settings)}


def test_compose_has_the_stack_and_streamer_services_use_known_settings_and_commands() -> None:
    from streamer.cli import build_parser
    from streamer.settings import Settings

    services = compose()["services"]
    assert {"kafka", "topics", "worker1", "worker2", "simulator", "prometheus",
            "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    known = streamer_variables()
    streamer_services = [n for n, s in services.items() if s.get("image", "").startswith("streamer")]
    assert set(streamer_services) == {"topics", "worker1", "worker2", "simulator"}
    for name in streamer_services:
        s = services[name]
        assert s["build"] == "." and (REPO / "Dockerfile").is_file()
        env = {k: str(v) for k, v in s["environment"].items()}
        unknown = {k for k in env if k.startswith("STREAMER_")} - known
        assert not unknown, f"{name}: settings.py does not know {unknown}"
        Settings.from_env(env)  # every value valid
        command = s["command"]
        build_parser(command[0]).parse_args(command)  # a real sub-command with real options
    for w in ("worker1", "worker2"):
        env = services[w]["environment"]
        assert env["STREAMER_STORE"] == "rocksdb://"
        assert env["STREAMER_METRICS_ADDR"].endswith(":9400")
    assert services["worker1"]["volumes"] != services["worker2"]["volumes"]  # one store each


def test_compose_mounts_files_that_exist_and_publishes_ports_on_localhost_only() -> None:
    import yaml

    services = compose()["services"]
    for name, s in services.items():
        for port in s.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
        for volume in s.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source}"
    prom = (REPO / "deploy" / "prometheus")
    config = yaml.safe_load((prom / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        assert (prom / rule_file).is_file(), rule_file
    (job,) = config["scrape_configs"]
    targets = job["static_configs"][0]["targets"]
    assert sorted(targets) == ["worker1:9400", "worker2:9400"]
    assert set(t.split(":")[0] for t in targets) <= set(services)
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "streamer.yml").read_text())["providers"][0]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert services["grafana"]["environment"]["PROMETHEUS_URL"] == "http://prometheus:9090"


def test_the_image_carries_the_contract_and_runs_the_cli() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "COPY topics/ topics/" in text and "pip install -e" in text
    assert 'ENTRYPOINT ["streamer"]' in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "!topics/" in ignored and "!streamer/" in ignored
