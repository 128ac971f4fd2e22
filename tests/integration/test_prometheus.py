"""Prometheus (Debian's package) scraping a real worker: every dashboard query and rule works.

A worker on the session's Apache Kafka scores a small simulated book; a Prometheus of our
own (loopback, free port, temp storage, 1 s scrape and rule interval) scrapes it with the
repository's scrape config and rules. Then, through Prometheus' HTTP API:

* every expression of every Grafana panel and every recording rule returns a series;
* every alerting rule parses, and each metric selector in it returns a series (an alert's
  full expression is empty while it does not fire);
* promtool checks the config and the rules and runs the rules' unit tests.

A metric renamed in `streamer/runtime/metrics.py`, or a typo in a query, fails here. Prometheus
is installed with apt-get when missing (root); when it cannot be, the tests fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import (
    Deployment,
    WorkerProcess,
    _free_port,
    produce_items,
    publish,
    simulated,
    wait_processed,
)
from tests.prom import PROM_DIR, dashboard_queries, ensure_prometheus, rules, selectors

DATA_S = 120.0  # longest wait for every query to return data


# -- a Prometheus of our own ---------------------------------------------------------------
class Prometheus:
    def __init__(self, binary: str, workdir: Path, targets: list[str]) -> None:
        config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(PROM_DIR / f) for f in config["rule_files"]]
        (job,) = config["scrape_configs"]
        job["static_configs"] = [{"targets": targets}]
        path = workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.addr = f"127.0.0.1:{_free_port()}"
        self.log = workdir / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={path}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address={self.addr}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not self._ready():
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "Prometheus not ready after 60 s"
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.addr}/-/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def query(self, expr: str) -> dict:
        url = f"http://{self.addr}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400: a query that does not parse
            return json.loads(exc.read())

    def series(self, expr: str) -> int:
        answer = self.query(expr)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        return len(answer["data"]["result"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], Prometheus]]:
    binary = ensure_prometheus()[0]
    started: list[Prometheus] = []

    def start(targets: list[str]) -> Prometheus:
        p = Prometheus(binary, tmp_path, targets)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def test_every_dashboard_query_and_rule_returns_data_from_a_live_worker(
        deploy: Callable[..., Deployment], prometheus: Callable[[list[str]], Prometheus]) -> None:
    d = deploy(STREAMER_PUBLISH_EVERY="100")
    w = d.start_worker("w1")
    w.wait_ready()
    prom = prometheus([w.addr])
    items = simulated("industry_downturn", 120, 365, 3)
    produce_items(d.settings, items)
    for _ in range(2):  # dead letters
        publish(d.settings, d.topic("credit.repayments"), b"{not json", key=b"b1")
    wait_processed(d, w)
    w.wait(lambda: w.value("streamer_model_examples_learned_total") > 0,
           "training examples learned")

    queries = ([(f"panel {name}", e) for name, e in dashboard_queries()]
               + [(f"recording rule {name}", e) for name, e in rules("record")]
               + [(f"alert {name}: {s}", s) for name, e in rules("alert") for s in selectors(e)])
    assert len(queries) > 60
    for name, expr in rules("alert"):
        prom.series(expr)  # parses and evaluates (empty unless it fires)
    missing = queries
    deadline = time.monotonic() + DATA_S
    while missing and time.monotonic() < deadline:
        time.sleep(1.0)
        missing = [(name, e) for name, e in missing if prom.series(e) == 0]
    assert not missing, "no series for:\n" + "\n".join(f"{n}: {e}" for n, e in missing) \
        + "\n" + w.log_tail()
    # a worker's series: well under 1,000, none labelled with a borrower id
    samples = w.metrics()
    assert 100 < len(samples) < 1000, len(samples)
    assert not [k for k in samples if re.search(r'="b\d+"', k)]
    # and the figures mean something
    held = prom.query("sum(streamer_portfolio_borrowers)")["data"]["result"]
    assert float(held[0]["value"][1]) == 120  # every borrower opened an account
    assert prom.series('streamer_portfolio_borrowers{dpd_bucket="90+"} > 0') >= 1


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_portfolio_gauges_stay_right_across_a_hand_over_and_a_restart(
        deploy: Callable[..., Deployment], store: str) -> None:
    """Borrowers by bucket and tier, summed over workers, equal the book after each move.

    (A memory store keeps keys of partitions it gave away: the rebuild must skip them.)
    """
    d = deploy(STREAMER_STORE=store)
    w1, w2 = d.start_worker("w1"), d.start_worker("w2")
    w1.wait_ready()
    w2.wait_ready()
    items = simulated("industry_downturn", 80, 240, 5)
    first, rest = items[: len(items) // 2], items[len(items) // 2:]
    opened = sum(1 for _, _, e in first if e["type"] == "account_opened")
    assert 40 < opened < 80  # some accounts open in the second half
    produce_items(d.settings, first)
    wait_processed(d, w1, w2)

    def held(*workers: WorkerProcess) -> list[float]:
        return [w.value("streamer_portfolio_borrowers") for w in workers]

    w1.wait(lambda: sum(held(w1, w2)) == opened, "the open accounts held by w1 and w2", 30)
    assert all(n > 0 for n in held(w1, w2)), held(w1, w2)
    delinquent = sum(w.value("streamer_portfolio_borrowers", dpd_bucket="90+") for w in (w1, w2))

    assert w2.stop() == 0  # w1 takes every partition: rebuilt from the table
    w1.wait(lambda: held(w1) == [opened], "w1 holds every open account", 60)
    assert w1.value("streamer_portfolio_borrowers", dpd_bucket="90+") == delinquent
    produce_items(d.settings, rest)
    wait_processed(d, w1)
    assert held(w1) == [80]

    assert w1.stop() == 0  # a restart: a new process recovers the table
    w3 = d.start_worker("w3")
    w3.wait_ready()
    w3.wait(lambda: held(w3) == [80], "the restarted worker holds all 80 borrowers", 60)
    assert sum(w3.value("streamer_portfolio_exposure_cny", tier=t)
               for t in ("none", "watch", "high", "critical")) > 0
