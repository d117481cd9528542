"""Who is acting: what every use case needs to know about its caller."""

from __future__ import annotations

import uuid
from typing import Protocol


class Principal(Protocol):
    """The authenticated caller, as the use cases see them (an active ``User`` is one).

    Entry points (REST routes, portal pages, the CLI) resolve it; use cases take it as their
    first argument and scope every read and write to ``organization_id``.
    """

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def role(self) -> str: ...
