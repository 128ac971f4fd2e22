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
    assert set(streamer_services) == {"topics", "worker1", "worker2", "trainer", "simulator"}
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
    # roles: the workers only score; the trainer learns
    assert services["worker1"]["environment"]["STREAMER_TRAINING"] == "off"
    assert services["trainer"]["command"] == ["trainer"]


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
    assert sorted(targets) == ["trainer:9400", "worker1:9400", "worker2:9400"]
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


# -- Kubernetes -----------------------------------------------------------------------------
K8S = REPO / "deploy" / "k8s"
SECRET_VARIABLES = {"STREAMER_SASL_USERNAME", "STREAMER_SASL_PASSWORD", "STREAMER_MODEL_KEY"}


def manifests() -> dict[str, dict]:
    """kind -> the resource, as `kubectl kustomize` builds them (offline)."""
    import shutil
    import subprocess

    import yaml

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed", pytrace=False)
    out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    listed = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert len(docs) == len(listed), "a manifest is missing from kustomization.yaml"
    return {d["kind"]: d for d in docs}


def container(resource: dict) -> dict:
    (c,) = resource["spec"]["template"]["spec"]["containers"]
    return c


def test_k8s_manifests_build_and_the_workers_have_the_essentials() -> None:
    from streamer.settings import Settings

    m = manifests()
    assert set(m) == {"ConfigMap", "Secret", "Service", "StatefulSet", "Job", "Deployment"}
    sts, svc = m["StatefulSet"], m["Service"]
    pod = sts["spec"]["template"]
    # one data volume per pod, where the RocksDB store lives
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    c = container(sts)
    config = m["ConfigMap"]["data"]
    assert config["STREAMER_STORE"] == "rocksdb://"
    mounts = {v["name"]: v["mountPath"] for v in c["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == config["STREAMER_DATA_DIR"]
    # metrics port declared, probed and annotated for Prometheus
    port = config["STREAMER_METRICS_ADDR"].rsplit(":", 1)[1]
    assert config["STREAMER_METRICS_ADDR"].startswith("0.0.0.0:")
    (declared,) = c["ports"]
    assert str(declared["containerPort"]) == port and declared["name"] == "metrics"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ("metrics", int(port))
    notes = pod["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/port"] == port
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    # the headless Service selects the pods
    assert svc["spec"]["clusterIP"] == "None" and sts["spec"]["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    # settings: known to settings.py, valid together with the secret's variables
    known = streamer_variables()
    assert set(config) <= known
    Settings.from_env({**config, "STREAMER_SASL_USERNAME": "u", "STREAMER_SASL_PASSWORD": "p",
                       "STREAMER_MODEL_KEY": "k" * 32})
    assert m["Job"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["topics", "apply"]
    # roles: the workers only score, one trainer learns, probed and scraped like them
    assert config["STREAMER_TRAINING"] == "off" and c["args"] == ["worker"]
    trainer = m["Deployment"]
    t = container(trainer)
    assert t["args"] == ["trainer"] and trainer["spec"]["replicas"] == 1
    assert t["envFrom"] == c["envFrom"] and {e["name"] for e in t["env"]} >= {
        e["name"] for e in c["env"]}
    assert t["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert trainer["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == port


def test_k8s_no_secret_in_plain_text() -> None:
    m = manifests()
    config = m["ConfigMap"]["data"]
    assert not SECRET_VARIABLES & set(config), "credentials belong in the Secret"
    secret = m["Secret"]
    values = {**secret.get("stringData", {}), **secret.get("data", {})}
    assert set(values) == SECRET_VARIABLES
    # placeholders only, and too short for STREAMER_PROFILE=production: a forgotten one stops
    # the worker instead of signing models with a known key
    assert all(v == "replace-me" for v in values.values())
    for kind in ("StatefulSet", "Job"):
        env = {e["name"]: e for e in container(m[kind]).get("env", [])}
        assert set(env) >= SECRET_VARIABLES
        for name in SECRET_VARIABLES:
            assert "value" not in env[name]
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
