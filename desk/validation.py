"""Input rules shared by the request schemas of every package (pydantic only)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps both engines alike and keeps a
    # ticket's projection write from failing forever on a value it can never store.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string that every supported database can store."""
