"""Registering the case search attributes on a Temporal namespace (what an operator does once per cluster)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError

from common.contract import SEARCH_ATTRIBUTES

_KINDS = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def register_search_attributes(client: Client) -> None:
    """Add `CaseStage`, `SlaLevel`, `DueAt`, ... to the client's namespace; already registered is fine.

    The dev server gets them from `--search-attribute` flags; the time-skipping test server and a fresh
    self-hosted cluster need this call (the test server rejects upserts of unregistered attributes).
    """
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={name: _KINDS[kind] for name, kind in SEARCH_ATTRIBUTES.items()},
            )
        )
    except RPCError as err:
        if "already" not in str(err).lower():
            raise
