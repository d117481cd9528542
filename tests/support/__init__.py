"""What tests share, other than fixtures (those are in ``tests/conftest.py``).

- ``config``: the database engine under test, the dev server's dynamic config.
- ``world``: organizations and users (``World``, ``PASSWORD``), logging in.
- ``workflows``: starting a ``TicketWorkflow`` directly on a Temporal client.
- ``polling``: ``eventually``, for what happens in another task or process.
- ``processes``: ``python -m api`` / ``python -m worker`` as subprocesses, always stopped
  (``service_process``, ``worker_process``, ``start_worker``).
- ``db_cut``: cutting and restoring a process's access to the test database.
- ``receivers``: a webhook receiver and an SMTP server on loopback (``SECRET``,
  ``add_webhook``); the ``receiver`` and ``smtp_server`` fixtures serve them.
- ``ports``: ``free_port``.
- ``prometheus``: ``sample``, one value of a ``/metrics`` exposition.
- ``tickets``: a projection row (``make_ticket``) and the ticket routes over HTTP
  (``make_tenant``, ``create``, ``act``, ``ticket_in``...).
- ``attachments``: ``upload`` and the multipart body it sends.
"""
