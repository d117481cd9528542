"""Temporal client plumbing shared by the API, the worker, the CLI and the tests: the
connection, and registering the ticket search attributes on a namespace.

The client is connected lazily and reconnected on demand, so the API starts (and answers
503 on ticket routes) while Temporal is down, instead of refusing to boot.
"""

from __future__ import annotations

import asyncio
import logging

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from desk.errors import ServiceUnavailable
from desk.settings import Settings
from desk.tickets.search_index import SEARCH_ATTRIBUTES

log = logging.getLogger("desk.temporal")

_INDEXED_TYPES = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "BOOL": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}
# Names as the `temporal` CLI spells the types, for messages and `--search-attribute`.
_CLI_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime"}


def _kind(key: SearchAttributeKey) -> str:
    return key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")


def search_attribute_cli_args() -> list[str]:
    """``--search-attribute Name=Type`` pairs for ``temporal server start-dev``."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}={_CLI_TYPES[_kind(key)]}"]
    return args


def create_search_attributes_command(missing: list[str], namespace: str) -> str:
    by_name = {key.name: key for key in SEARCH_ATTRIBUTES}
    parts = " ".join(f"--name {n} --type {_CLI_TYPES[_kind(by_name[n])]}" for n in missing)
    return f"temporal operator search-attribute create --namespace {namespace} {parts}"


async def missing_search_attributes(client: Client, namespace: str) -> list[str]:
    """Names of our custom search attributes the namespace does not have."""
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    present = set(response.custom_attributes)
    return [key.name for key in SEARCH_ATTRIBUTES if key.name not in present]


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Create whichever of our search attributes are missing (idempotent); returns those."""
    missing = await missing_search_attributes(client, namespace)
    if missing:
        by_name = {key.name: key for key in SEARCH_ATTRIBUTES}
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={n: _INDEXED_TYPES[_kind(by_name[n])] for n in missing},
            )
        )
        log.info("created search attributes %s in namespace %s", missing, namespace)
    return missing


async def ensure_retention(client: Client, namespace: str, days: int) -> bool:
    """Set the namespace's retention of closed workflows to ``days`` (idempotent); True if
    it changed. A ticket's workflow completes when the ticket closes; the database keeps
    the ticket, so Temporal's copy is only needed for a while (bench/RESULTS.md, the
    capacity plan)."""
    service = client.workflow_service
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    wanted = Duration(seconds=days * 86_400)
    if described.config.workflow_execution_retention_ttl == wanted:
        return False
    await service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=wanted)
        )
    )
    log.info("namespace %s keeps closed workflows %s days", namespace, days)
    return True


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)


class TemporalConnection:
    """A lazily connected, shared client; ``get()`` raises 503 while Temporal is unreachable."""

    def __init__(self, settings: Settings, client: Client | None = None):
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self._settings), timeout=5)
                except (TimeoutError, RuntimeError, OSError) as exc:
                    log.warning(
                        "Temporal unreachable at %s: %s", self._settings.temporal_address, exc
                    )
                    raise ServiceUnavailable(
                        "workflow engine unavailable", code="workflow_engine_unavailable"
                    ) from exc
        return self._client

    async def ping(self) -> bool:
        """True if Temporal answers right now."""
        try:
            client = await self.get()
            await asyncio.wait_for(client.service_client.check_health(), timeout=3)
            return True
        except Exception:
            return False
