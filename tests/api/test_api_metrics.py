"""The API process's /metrics: requests counted by route template and status with their latency, and the
read-model gauges only where this process is the deployment's source of them."""

from __future__ import annotations

from typing import Any

from helpers.api import DISPATCHER, api_process
from helpers.client import new_case_no, task_queue
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_requests_are_counted_by_route_template(dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any) -> None:
    missing = [new_case_no(), new_case_no()]
    async with api_process(dev_env, pg_dsn, task_queue()) as api, api.http() as http:
        for case_no in missing:
            resp = await http.get(f"/v1/cases/{case_no}", headers=api.headers(DISPATCHER))
            assert resp.status_code == 404, resp.text
        assert (await http.get("/no/such/path")).status_code == 404
        assert (await http.get(f"/v1/cases/{missing[0]}")).status_code == 401  # no token

        resp = await http.get("/metrics")
        assert resp.status_code == 200
        samples = _samples(resp.text)

    def requests(route: str, status: str) -> float | None:
        key = frozenset({("route", route), ("method", "GET"), ("status", status)})
        return samples.get(("complaints_api_requests_total", key))

    # two case numbers, one series: the template, never the path
    assert requests("/v1/cases/{case_no}", "404") == 2
    assert requests("/v1/cases/{case_no}", "401") == 1
    assert requests("unmatched", "404") == 1
    assert not [labels for name, labels in samples if name == "complaints_api_requests_total"
                and any(case_no in value for _, value in labels for case_no in missing)]
    latency = samples[("complaints_api_request_duration_seconds_count",
                       frozenset({("route", "/v1/cases/{case_no}"), ("method", "GET")}))]
    assert latency == 3
    # COMPLAINTS_METRICS_READ_MODEL defaults to true: this process serves the read-model gauges too
    assert ("complaints_read_model_up", frozenset()) in samples


async def test_read_model_gauges_are_off_when_another_process_serves_them(
    dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any
) -> None:
    async with api_process(dev_env, pg_dsn, task_queue(), {"COMPLAINTS_METRICS_READ_MODEL": "false"}) as api, \
            api.http() as http:
        resp = await http.get("/metrics")
    assert resp.status_code == 200
    names = {name for name, _ in _samples(resp.text)}
    assert "complaints_api_requests_total" in names
    assert not {n for n in names if n.startswith(("complaints_read_model", "complaints_open_cases"))}
