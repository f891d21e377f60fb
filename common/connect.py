"""One way to connect to Temporal from settings: the embedded dev server, a self-hosted cluster, or Cloud."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig

from common.converter import make_data_converter
from common.settings import Settings, get_settings


async def connect(settings: Settings | None = None) -> Client:
    """A client with the project's data converter (pydantic + encryption) and the configured TLS/API key."""
    s = settings or get_settings()
    tls: TLSConfig | bool = False
    if s.temporal_tls_cert and s.temporal_tls_key:
        tls = TLSConfig(
            client_cert=s.temporal_tls_cert.read_bytes(),
            client_private_key=s.temporal_tls_key.read_bytes(),
        )
    elif s.temporal_api_key:
        tls = True
    return await Client.connect(
        s.temporal_address,
        namespace=s.temporal_namespace,
        tls=tls,
        api_key=s.temporal_api_key,
        data_converter=make_data_converter(s),
    )
