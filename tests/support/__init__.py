"""What tests share, other than fixtures (those are in ``tests/conftest.py``). A test imports
from here, never from another test module.

People and data:

- ``world``: organizations and users (``World``, ``PASSWORD``, hashed once per run), logging
  in over HTTP (``login_headers``) or signing a token directly (``bearer``).
- ``tickets``: a projection row (``make_ticket``), and the ticket routes over HTTP by a
  tenant's people (``make_tenant``, ``create``, ``act``, ``ticket_in``...).
- ``attachments``: ``upload``, and the multipart body it sends.
- ``workflows``: starting a ``TicketWorkflow`` directly on a Temporal client.

Things outside the test's process:

- ``receivers``: a webhook receiver and an SMTP server on loopback (``SECRET``,
  ``add_webhook``); the ``receiver`` and ``smtp_server`` fixtures serve them.
- ``temporal``: starting a dev server or a time-skipping server (tried again if a start is
  lost to a port race).
- ``processes``: ``python -m api`` / ``python -m worker`` as subprocesses, always stopped.
- ``db_cut``: cutting and restoring a process's access to the test database.
- ``ports``: ``free_port``; ``polling``: ``eventually``; ``prometheus``: ``sample``.

The run itself:

- ``config``: the database engine under test, the dev server's dynamic config.
- ``tiers``: marks tests ``temporal`` or ``subprocess`` for ``make test-fast`` to leave out.
"""
