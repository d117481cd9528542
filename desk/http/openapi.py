"""The OpenAPI document: the only contract REST clients get, so it must tell the truth.

FastAPI writes it from the routes; this adds what the routes cannot say themselves: readable
operation ids (``tickets-create``), every error each operation answers with its real body
(``desk.http.errors``), and the ``Link`` header of paginated lists. The committed
``openapi.json`` is this document; a test fails when they differ (``make openapi``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from desk.http.errors import document_errors

_LINK_HEADER = {
    "Link": {
        "description": 'The next page, when there is one: `<url>; rel="next"`.',
        "schema": {"type": "string"},
    }
}


def operation_id(route: APIRoute) -> str:
    """``<tag>-<name>``: ``tickets-create``, ``sla-policies-update``."""
    tag = route.tags[0] if route.tags else "desk"  # only routes left out of the document
    return f"{tag}-{route.name}".replace("_", "-")


def install_openapi(app: FastAPI) -> None:
    """Serve the document built by :func:`build_openapi` (once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    document_errors(schema)
    _document_list_links(schema)
    return schema


def _document_list_links(schema: dict[str, Any]) -> None:
    """Every list answer (a JSON array) may announce its next page in ``Link``."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            ok = operation.get("responses", {}).get("200", {})
            body = ok.get("content", {}).get("application/json", {}).get("schema", {})
            if body.get("type") == "array":
                ok.setdefault("headers", {}).update(_LINK_HEADER)


CONTRACT_FILE = "openapi.json"


def render(schema: dict[str, Any]) -> str:
    """The document as committed: stable, diff-friendly JSON."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """``python -m desk.http.openapi [PATH]``: write the app's document (``make openapi``)."""
    from desk.app import create_app
    from desk.settings import Settings

    path = Path(sys.argv[1] if len(sys.argv) > 1 else CONTRACT_FILE)
    path.write_text(render(create_app(Settings(_env_file=None)).openapi()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
