"""The monitoring files of the compose deployment hold: the alert rules pass `promtool check` and their unit
tests, the Grafana dashboard and the rules name only metrics the code exports, and every long-running service
has a healthcheck (the worker a grace period longer than its drain)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from prometheus_client import REGISTRY

import api.metrics  # noqa: F401 - registers the API's request metrics in the process registry
from activities.outbox import DEFAULT_MAX_ATTEMPTS
from common.metrics import ReadModelCollector, read_model_registry

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool (Debian package prometheus) is required; `make test` installs it"
    return subprocess.run([exe, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def test_alert_rules_are_valid_and_their_unit_tests_pass() -> None:
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    config = _promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_the_four_required_alerts_exist_and_each_has_a_unit_test() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"WorkerNotPolling", "OutboxFailing", "PostgresUnreachable", "RedCasesRising"} <= alerts
    unit = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text(encoding="utf-8"))
    fired = {t["alertname"] for test in unit["tests"] for t in test["alert_rule_test"] if t["exp_alerts"]}
    assert fired == alerts


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def _exprs() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    dashboard = json.loads((GRAFANA / "dashboards" / "complaints.json").read_text(encoding="utf-8"))
    return [r["expr"] for g in rules["groups"] for r in g["rules"]] + [
        t["expr"] for p in dashboard["panels"] for t in p["targets"]
    ]


async def test_dashboard_and_rules_name_only_metrics_the_code_exports(pg_pool: asyncpg.Pool) -> None:
    collector = ReadModelCollector(pg_pool, max_attempts=DEFAULT_MAX_ATTEMPTS)
    assert (await collector.refresh()).up
    # families, not samples: a labelled counter nobody has incremented yet has no sample but is exported
    families = [f for f in [*REGISTRY.collect(), *read_model_registry(collector).collect()]
                if f.name.startswith("complaints_")]
    exported = {f"{f.name}{suffix}" for f in families for suffix in _SUFFIXES.get(f.type, ("",))}
    named = {name for expr in _exprs() for name in re.findall(r"\bcomplaints_[a-z_]+", expr)}
    assert named and named <= exported, named - exported
    # and every family the code defines is on the dashboard or in a rule
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in named}
    assert {f.name for f in families} - shown == {"complaints_read_model_scrape_seconds"}


def test_dashboard_panels_use_the_provisioned_datasource() -> None:
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    uid = source["datasources"][0]["uid"]
    dashboard = json.loads((GRAFANA / "dashboards" / "complaints.json").read_text(encoding="utf-8"))
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "complaints.yml").read_text(encoding="utf-8"))
    mounts = COMPOSE["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts


def _seconds(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smh])", value))


def test_every_long_running_service_has_a_healthcheck() -> None:
    services: dict[str, Any] = COMPOSE["services"]
    one_shot = {name for name, svc in services.items() if svc.get("restart") == "no"}
    assert one_shot == {"temporal-schema", "temporal-setup"}  # jobs that exit; others wait for them to finish
    missing = [name for name, svc in services.items() if name not in one_shot and "healthcheck" not in svc]
    assert not missing


def test_the_worker_is_given_longer_than_its_drain_before_it_is_killed() -> None:
    worker = COMPOSE["services"]["worker"]
    drain = float(worker["environment"]["COMPLAINTS_WORKER_GRACEFUL_SHUTDOWN_SECONDS"])
    assert _seconds(worker["stop_grace_period"]) > drain + 5
    assert "/readyz" in " ".join(worker["healthcheck"]["test"])


def test_prometheus_and_grafana_are_published_on_loopback_only() -> None:
    for name in ("prometheus", "grafana"):
        assert all(p.startswith("127.0.0.1:") for p in COMPOSE["services"][name]["ports"]), name
    # the worker's metrics port is reached over the compose network, never published
    assert "ports" not in COMPOSE["services"]["worker"]
