"""The application's Prometheus metrics: one definition of every name, for every process that exposes them.

Two kinds, on purpose:

* Counters (`DECISIONS_TAKEN`, `DECISIONS_REFUSED`, `ACTIVITY_RETRIES`, `OUTBOX_DELIVERIES`) count what THIS
  process did; Prometheus sums them over the worker replicas.
* Read-model gauges (open cases by stage and SLA level, the notification backlog, cases on provisional calendar
  data) describe the whole database, so exactly one process per deployment serves them
  (`Settings.metrics_read_model`): summed over replicas they would be multiplied. `ReadModelCollector` reads
  them at scrape time with a few aggregate queries over partial indexes; `refresh` is awaited by the HTTP
  handler before the registry is rendered, because a prometheus-client collector cannot await.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import get_args

import asyncpg
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cases.models import OPEN_STAGES, SlaLevel
from cases.transitions import DECISIONS

PREFIX = "complaints"

DECISIONS_TAKEN = Counter(
    f"{PREFIX}_decisions", "Decisions applied to a case by this worker process", ["decision"],
)
DECISIONS_REFUSED = Counter(
    f"{PREFIX}_decisions_refused", "Decisions refused (validator or handler) by this worker process", ["decision"],
)
ACTIVITY_RETRIES = Counter(
    f"{PREFIX}_activity_retries", "Activity attempts after the first (attempt > 1) started in this process",
    ["activity"],
)
OUTBOX_DELIVERIES = Counter(
    f"{PREFIX}_outbox_deliveries",
    "Notification delivery attempts by this process's outbox sender, by result (sent, retry, permanent)",
    ["result"],
)
# every series exists from the start at 0, so rate() and increase() see the first event
for _decision in DECISIONS:
    DECISIONS_TAKEN.labels(decision=_decision)
    DECISIONS_REFUSED.labels(decision=_decision)
for _result in ("sent", "retry", "permanent"):
    OUTBOX_DELIVERIES.labels(result=_result)

# a notification that reached this many attempts (activities.outbox.DEFAULT_MAX_ATTEMPTS) is never tried again
_PENDING = "status IN ('queued', 'sending') OR (status = 'failed' AND attempts < $1 AND next_attempt_at < 'infinity')"

_OPEN_CASES_SQL = "SELECT stage, sla_level, count(*) AS n FROM cases WHERE open GROUP BY stage, sla_level"
_PROVISIONAL_SQL = "SELECT count(*) FROM cases WHERE open AND provisional"
_OUTBOX_SQL = f"""
SELECT count(*) FILTER (WHERE {_PENDING}) AS pending,
       count(*) FILTER (WHERE status = 'failed' AND NOT ({_PENDING})) AS exhausted,
       count(*) FILTER (WHERE status = 'undeliverable') AS undeliverable,
       coalesce(extract(epoch FROM now() - min(requested_at) FILTER (WHERE {_PENDING})), 0) AS oldest_age
FROM notifications
WHERE status <> 'sent'
"""


@dataclass
class ReadModelSnapshot:
    """What the last scrape read; `up` is False when PostgreSQL did not answer."""

    up: bool = False
    open_cases: dict[tuple[str, str], int] = field(default_factory=dict)
    provisional_open_cases: int = 0
    notifications_pending: int = 0
    notifications_exhausted: int = 0
    notifications_undeliverable: int = 0
    oldest_pending_age_seconds: float = 0.0
    read_seconds: float = 0.0


class ReadModelCollector(Collector):
    """Gauges over the read model, read from PostgreSQL at scrape time (`await refresh()` then render)."""

    def __init__(self, pool: asyncpg.Pool, *, max_attempts: int, timeout: float = 5.0) -> None:
        self.pool = pool
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.snapshot = ReadModelSnapshot()

    async def refresh(self) -> ReadModelSnapshot:
        started = time.perf_counter()
        try:
            self.snapshot = await asyncio.wait_for(self._read(), self.timeout)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self.snapshot = ReadModelSnapshot(up=False)
        self.snapshot.read_seconds = time.perf_counter() - started
        return self.snapshot

    async def _read(self) -> ReadModelSnapshot:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            open_rows = await conn.fetch(_OPEN_CASES_SQL)
            provisional = await conn.fetchval(_PROVISIONAL_SQL)
            outbox = await conn.fetchrow(_OUTBOX_SQL, self.max_attempts)
        return ReadModelSnapshot(
            up=True,
            open_cases={(r["stage"], r["sla_level"]): int(r["n"]) for r in open_rows},
            provisional_open_cases=int(provisional),
            notifications_pending=int(outbox["pending"]),
            notifications_exhausted=int(outbox["exhausted"]),
            notifications_undeliverable=int(outbox["undeliverable"]),
            oldest_pending_age_seconds=float(outbox["oldest_age"]),
        )

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        yield GaugeMetricFamily(f"{PREFIX}_read_model_up", "1 if PostgreSQL answered the last scrape",
                                value=1 if s.up else 0)
        yield GaugeMetricFamily(f"{PREFIX}_read_model_scrape_seconds", "Time the read-model queries took",
                                value=s.read_seconds)
        if not s.up:
            return  # no numbers rather than zeros that would read as "all clear"
        open_cases = GaugeMetricFamily(f"{PREFIX}_open_cases", "Open cases by stage and SLA level",
                                       labels=["stage", "sla_level"])
        # every combination, zeros included: a series that appears only when it turns non-zero breaks rate rules
        for stage in sorted(OPEN_STAGES):
            for level in get_args(SlaLevel):
                open_cases.add_metric([stage.value, level], s.open_cases.get((stage.value, level), 0))
        yield open_cases
        yield GaugeMetricFamily(f"{PREFIX}_provisional_open_cases",
                                "Open cases whose deadlines rest on provisional calendar data",
                                value=s.provisional_open_cases)
        notifications = GaugeMetricFamily(
            f"{PREFIX}_notifications", "Notifications not sent, by state (pending = will be tried again)",
            labels=["state"],
        )
        notifications.add_metric(["pending"], s.notifications_pending)
        notifications.add_metric(["exhausted"], s.notifications_exhausted)
        notifications.add_metric(["undeliverable"], s.notifications_undeliverable)
        yield notifications
        yield GaugeMetricFamily(f"{PREFIX}_notifications_oldest_pending_age_seconds",
                                "Age of the oldest notification still to be sent (0 when none)",
                                value=s.oldest_pending_age_seconds)


def read_model_registry(collector: ReadModelCollector) -> CollectorRegistry:
    """A registry of its own for the read-model gauges, rendered beside the process's default registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
