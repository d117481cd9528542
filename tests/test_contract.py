"""The OpenAPI document is the REST contract: committed, readable, truthful about errors and
bounds; plus what a browser client needs (CORS, security headers) and 405's Allow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from desk.app import create_app
from desk.http.openapi import CONTRACT_FILE, render

ROOT = Path(__file__).resolve().parent.parent
FORMATS_BOUNDED_BY_THEMSELVES = {"uuid", "date-time", "date", "binary"}


@pytest.fixture(scope="module")
def document(settings) -> dict[str, Any]:
    return create_app(settings).openapi()


def _operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_committed_contract_is_the_apps_document(document):
    committed = (ROOT / CONTRACT_FILE).read_text()
    assert committed == render(document), "the contract changed: run `make openapi` and commit"


def test_operation_ids_read_as_tag_and_action(document):
    ids = []
    for where, operation in _operations(document):
        tag = operation["tags"][0]
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", operation["operationId"]), where
        assert operation["operationId"].startswith(f"{tag}-"), where
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
    assert {"tickets-create", "tickets-accept", "comments-create", "attachments-download"} <= set(
        ids
    )


def test_every_error_answer_is_the_one_error_body(document):
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for where, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (where, status)
        if operation.get("security"):
            assert "401" in operation["responses"], where
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in operation["responses"], where


def test_lists_declare_their_link_header(document):
    for where, operation in _operations(document):
        ok = operation["responses"].get("200", {})
        body = ok.get("content", {}).get("application/json", {}).get("schema", {})
        if body.get("type") == "array":
            assert "Link" in ok.get("headers", {}), where


def test_every_input_is_bounded(document):
    """Every integer, string and list a client sends has limits the document shows (the
    code enforces the same: FastAPI validates against these schemas)."""
    components = document["components"]["schemas"]
    unbounded: list[str] = []

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def check(schema: dict[str, Any], where: str) -> None:
        schema = resolve(schema)
        if misspelled := {"gt", "ge", "lt", "le"} & schema.keys():  # pydantic's, not JSON's
            unbounded.append(f"{where}: {sorted(misspelled)} are no JSON Schema keywords")
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                check(option, where)
        if "enum" in schema or "const" in schema:
            return
        kind = schema.get("type")
        if kind == "string" and schema.get("format") not in FORMATS_BOUNDED_BY_THEMSELVES:
            if "maxLength" not in schema:
                unbounded.append(f"{where}: string without maxLength")
        elif kind in ("integer", "number"):
            if not ({"maximum", "exclusiveMaximum"} & schema.keys()) or not (
                {"minimum", "exclusiveMinimum"} & schema.keys()
            ):
                unbounded.append(f"{where}: {kind} without minimum and maximum")
        elif kind == "array":
            if "maxItems" not in schema:
                unbounded.append(f"{where}: array without maxItems")
            check(schema.get("items", {}), f"{where}[]")
        for name, sub in schema.get("properties", {}).items():
            check(sub, f"{where}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                unbounded.append(f"{where}: object without maxProperties")
            check(extra, f"{where}.*")

    for where, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            check(parameter["schema"], f"{where} {parameter['in']} {parameter['name']}")
        for content in operation.get("requestBody", {}).get("content", {}).values():
            check(content.get("schema", {}), f"{where} body")
    assert not unbounded, "\n".join(unbounded)


async def test_405_allows_what_the_document_lists(client, document):
    for path, item in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "6f1d3c5e-2b1a-4f0e-9d7c-8a4b2e1f0c3d", path)
        response = await client.request("PUT", concrete)
        assert response.status_code == 405, path
        assert response.headers["Allow"] == ", ".join(sorted(m.upper() for m in item)), path
        assert response.json()["code"] == "method_not_allowed"


async def test_api_answers_carry_the_security_headers(client):
    response = await client.get("/api/v1/tickets")
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers  # only with DESK_ENV=prod
    assert "Access-Control-Allow-Origin" not in response.headers  # no CORS by default


async def test_cors_serves_only_the_configured_origins(settings):
    allowed = "https://app.example.com"
    app = create_app(settings.model_copy(update={"cors_origins": [allowed]}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key",
        }
        ok = await http.options("/api/v1/tickets", headers={"Origin": allowed, **preflight})
        assert ok.status_code == 200
        assert ok.headers["Access-Control-Allow-Origin"] == allowed
        assert "idempotency-key" in ok.headers["Access-Control-Allow-Headers"].lower()
        other = await http.options(
            "/api/v1/tickets", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "Access-Control-Allow-Origin" not in other.headers
        simple = await http.get("/healthz", headers={"Origin": allowed})
        assert simple.headers["Access-Control-Allow-Origin"] == allowed
        assert "Link" in simple.headers["Access-Control-Expose-Headers"]


def test_the_contract_file_is_valid_json():
    json.loads((ROOT / CONTRACT_FILE).read_text())
