"""Metrics and probes have no login: the embedded mode refuses to serve them beyond loopback."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.settings import Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_is_accepted_in_the_embedded_mode(host: str) -> None:
    assert Settings(mode="embedded", metrics_host=host).metrics_host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "metrics.example.org"])
def test_any_other_address_is_refused_naming_the_setting(host: str) -> None:
    with pytest.raises(ValidationError, match="COMPLAINTS_METRICS_HOST"):
        Settings(mode="embedded", metrics_host=host)


def test_production_may_listen_on_its_network() -> None:
    assert Settings(mode="production", metrics_host="0.0.0.0").metrics_host == "0.0.0.0"
