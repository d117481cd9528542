"""Cut and restore a process's access to the test database, on either engine.

PostgreSQL: the process connects through a loopback TCP proxy that can stop listening and
drop its connections. SQLite: the process opens the file (``mode=rw``, so never creating it)
through a directory symlink that can be pointed at an empty directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, upstream_w}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        # Cancelled when the test's loop closes with connections still open: nothing to
        # report (asyncio would log the cancellation as an error).
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(pipe(client_r, upstream_w), pipe(upstream_r, client_w))
        self._writers -= {client_w, upstream_w}


class CuttableDatabase:
    """A URL for the same database whose access ``cut()`` and ``restore()`` toggle."""

    def __init__(self, database_url: str, workdir: Path):
        self._url = make_url(database_url)
        self._workdir = workdir
        self._proxy: TcpProxy | None = None
        self.url = ""

    async def __aenter__(self) -> CuttableDatabase:
        if self._url.get_backend_name() == "postgresql":
            self._proxy = TcpProxy(self._url.host or "127.0.0.1", self._url.port or 5432)
            await self._proxy.start()
            proxied = self._url.set(host="127.0.0.1", port=self._proxy.port)
            self.url = proxied.render_as_string(hide_password=False)
        else:
            database = Path(self._url.database)
            self._real_dir = database.parent
            self._empty_dir = self._workdir / "cut"
            self._empty_dir.mkdir(exist_ok=True)
            self._link = self._workdir / "db-link"
            self._point_link_at(self._real_dir)
            self.url = f"sqlite+aiosqlite:///file:{self._link / database.name}?mode=rw&uri=true"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._proxy is not None:
            await self._proxy.stop()

    def _point_link_at(self, target: Path) -> None:
        staging = self._workdir / "db-link.new"
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        staging.symlink_to(target, target_is_directory=True)
        os.replace(staging, self._link)

    async def cut(self) -> None:
        if self._proxy is not None:
            await self._proxy.stop()
        else:
            self._point_link_at(self._empty_dir)

    async def restore(self) -> None:
        if self._proxy is not None:
            await self._proxy.start()
        else:
            self._point_link_at(self._real_dir)
