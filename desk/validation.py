"""Input rules shared by the request schemas of every package (pydantic only).

What a request may hold is exactly what the OpenAPI document says: scalars are taken only in
their JSON type (no ``0`` for ``false``, no ``"5"`` for ``5``), and text rules the database
imposes (no NUL) or a person expects (not blank) are patterns the document shows.
"""

from __future__ import annotations

import importlib.resources
import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictBool
from pydantic.fields import FieldInfo

# PostgreSQL text cannot hold NUL; refusing it keeps both engines alike and keeps a ticket's
# projection write from failing forever on a value it can never store.
NO_NUL = r"^[^\x00]*$"
# White space as both Python (str.strip) and JavaScript (a client's \s) see it, spelled out:
# the regex engines that check the document's patterns disagree on \s.
_BLANK = (
    r"\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
    r"\u3000\ufeff"
)
# Some character that is not white space (and no NUL anywhere).
NOT_BLANK = rf"^[^\x00]*[^\x00{_BLANK}][^\x00]*$"

Text = Annotated[str, Field(pattern=NO_NUL)]
"""A string that every supported database can store."""

Flag = StrictBool
"""``true`` or ``false``, nothing else."""


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a JSON number")
    return value


def whole(**constraints: Any) -> Any:
    """A JSON integer within ``constraints`` (``ge``, ``le``...): ``38`` or ``38.0`` (as JSON
    Schema counts them), not ``"38"`` or ``true``."""
    # The constraints go before the validator, or the document shows them as unknown words.
    return Annotated[int, Field(**constraints), BeforeValidator(_json_number)]


def number(**constraints: Any) -> Any:
    """A JSON number within ``constraints``, not a string or a boolean."""
    return Annotated[float, Field(**constraints), BeforeValidator(_json_number)]


# An address of the usual shape: a dot-atom local part, then a DNS name whose last label is
# not a number. (The full RFC 5322 grammar, quoted parts and IP literals, is not taken.)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TOP_LABEL}$"
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN), AfterValidator(str.lower)]
"""An email address, stored lower-case."""


_NUMBER = re.compile(r"^\s*[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?\s*$")


def _iso_text(value: Any) -> Any:
    # pydantic would read a number, or a string of one, as a Unix timestamp.
    if (isinstance(value, str) and not _NUMBER.match(value)) or isinstance(value, date):
        return value
    raise ValueError("expected an ISO 8601 string")


IsoDate = Annotated[date, BeforeValidator(_iso_text)]
"""A calendar day as an ISO string (``2026-12-25``)."""

IsoInstant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
"""An instant as an ISO string with its offset (``2026-12-25T09:00:00+01:00``)."""


def _no_default_shown(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(**field: Any) -> Any:
    """The default of a field that may be left out but not sent as ``null`` (a partial
    update): the document shows no ``null``, and none is accepted. ``field``: more of
    ``Field``'s arguments (a description)."""
    info: FieldInfo = Field(None, json_schema_extra=_no_default_shown, **field)
    return info


def _tzdata_zones() -> list[str]:
    """The IANA zone names the ``tzdata`` package ships."""
    listing = importlib.resources.files("tzdata").joinpath("zones").read_text()
    return sorted(name for name in listing.split() if name != "localtime")


# Zones from the tzdata package (not the host's database), so every machine accepts and
# documents the same list.
TimeZone = StrEnum("TimeZone", {name: name for name in _tzdata_zones()})  # type: ignore[misc]


# A calendar day in years 1970 to 9998: inside what every date, time zone and driver can
# express, and far around any real report. Stated as a pattern so the document shows it.
DAY_PATTERN = (
    r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
    r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
)
_DAY = re.compile(DAY_PATTERN)


def _day_text(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _DAY.match(value)):
        return value
    raise ValueError("expected a day, YYYY-MM-DD, in the years 1970 to 9998")


Day = Annotated[date, BeforeValidator(_day_text), Field(json_schema_extra={"pattern": DAY_PATTERN})]
"""A calendar day (``2026-12-25``) of the years 1970 to 9998."""
