"""The mixed load a chaos scenario drives over HTTP, and the record of every exchange.

Several clients (async httpx, loopback only), each with its own seeded random stream, file
tickets (with an ``Idempotency-Key``), accept, assign, move and comment on them; a pacer
accepts the SLA tickets so that their deadlines fall due during the run. Every change
carries an ``Idempotency-Key``; a request that got no answer (connection refused or cut,
timeout) or a 503 is sent again with the same key, against whichever API answers, until
an answer or its time is up. The load is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.attachments import BOUNDARY, FORM_HEADERS, form_parts

TICKETS = "/api/v1/tickets"
INTERNAL = "/api/v1/internal/tickets"
COMMENTS = "/api/v1/comments/ticket"
ATTACHMENTS = "/api/v1/attachments/ticket"
RETRYABLE = {502, 503, 504}
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Exchange:
    """One attempt of one request, and what came back (``status`` None: no answer)."""

    request_id: str
    attempt: int
    op: str
    method: str
    path: str
    api: str
    status: int | None
    body: Any
    started: float
    ended: float
    error: str | None = None


@dataclass
class Request:
    """A logical request (one Idempotency-Key) and its attempts; ``final`` is the last."""

    request_id: str
    op: str
    path: str
    payload: Any
    attempts: list[Exchange] = field(default_factory=list)

    @property
    def final(self) -> Exchange | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def ok(self) -> bool:
        return (
            self.final is not None
            and self.final.status is not None
            and (200 <= self.final.status < 300)
        )


@dataclass
class Journal:
    """Every request and every attempt of the run."""

    requests: list[Request] = field(default_factory=list)

    def exchanges(self) -> list[Exchange]:
        return [e for r in self.requests for e in r.attempts]

    def answered(self, op: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.ok and (op is None or r.op == op)]


class Apis:
    """The API base URLs; attempts go round-robin, so a retry lands on another API when
    there are several."""

    def __init__(self, urls: list[str]):
        self.urls = urls
        self._next = 0

    def pick(self) -> str:
        self._next = (self._next + 1) % len(self.urls)
        return self.urls[self._next]


class Sender:
    """Sends requests with retries, recording each attempt in the journal."""

    def __init__(self, apis: Apis, journal: Journal, *, give_up_s: float = 90.0):
        self.apis, self.journal, self.give_up_s = apis, journal, give_up_s
        self.http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S)
        self._ids = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def send(
        self,
        op: str,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        json: Any = None,
        content: Callable[[], bytes] | None = None,
        key: str | None = None,
    ) -> Request:
        self._ids += 1
        request_id = key or f"{op}-{id(self)}-{self._ids}"
        request = Request(request_id, op, path, json)
        self.journal.requests.append(request)
        headers = {**headers, "Idempotency-Key": request_id}
        deadline = time.monotonic() + self.give_up_s
        delay = 0.2
        attempt = 0
        while True:
            attempt += 1
            api = self.apis.pick()
            started = time.monotonic()
            status, body, error = None, None, None
            try:
                response = await self.http.request(
                    method,
                    api + path,
                    headers=headers,
                    json=json,
                    content=content() if content else None,
                )
                status = response.status_code
                try:
                    body = response.json()
                except ValueError:
                    body = response.text[:500]
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            request.attempts.append(
                Exchange(
                    request_id,
                    attempt,
                    op,
                    method,
                    path,
                    api,
                    status,
                    body,
                    started,
                    time.monotonic(),
                    error,
                )
            )
            retry = status is None or status in RETRYABLE
            if not retry or time.monotonic() > deadline:
                return request
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)


@dataclass
class Cast:
    """Who acts: auth headers by role, and the people's ids the load refers to."""

    customers: list[dict[str, str]]
    managers: list[dict[str, str]]
    agent_ids: list[str]
    manager_ids: list[str]


@dataclass
class LoadPlan:
    seed: int
    clients: int
    ops_per_client: int
    seconds: float
    sla_tickets: int
    sla_accept_window_s: float
    upload_every: int = 0  # every n-th op of a client is an upload (0: none)
    tail_s: float = 8.0  # load on after the last fault's recovery
    max_seconds: float = 300.0


@dataclass
class Load:
    """Runs the plan; afterwards ``journal`` holds everything sent and answered."""

    plan: LoadPlan
    cast: Cast
    sender: Sender
    journal: Journal
    run_tag: str
    churn: list[str] = field(default_factory=list)  # tickets the clients work on
    sla: list[str] = field(default_factory=list)  # tickets whose deadlines fall due
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    faults_done_at: float | None = None

    async def file_sla_tickets(self) -> None:
        """The URGENT tickets (seconds-long policy) whose acceptance starts their clocks."""
        rng = random.Random(self.plan.seed)

        async def one(n: int) -> None:
            customer = self.cast.customers[n % len(self.cast.customers)]
            body = {"subject": f"{self.run_tag} sla {n}", "priority": "URGENT"}
            request = await self.sender.send("create", "POST", TICKETS, customer, json=body)
            if request.ok:
                self.sla.append(request.final.body["id"])

        for start in range(0, self.plan.sla_tickets, 10):
            await asyncio.gather(
                *(one(n) for n in range(start, min(start + 10, self.plan.sla_tickets)))
            )
        rng.shuffle(self.sla)

    async def run(self, faults_done: asyncio.Event | None = None) -> None:
        """Drive the load for the plan's seconds, and on while faults are still being
        injected (then ``tail_s`` more), never past ``max_seconds``."""
        started = time.monotonic()
        hard_stop = started + self.plan.max_seconds

        def over() -> bool:
            now = time.monotonic()
            if now > hard_stop:
                return True
            if faults_done is not None and not faults_done.is_set():
                return False
            end = max(started + self.plan.seconds, (self.faults_done_at or 0) + self.plan.tail_s)
            return now > end

        if faults_done is not None:

            async def note_done() -> None:
                await faults_done.wait()
                self.faults_done_at = time.monotonic()

            noting = asyncio.create_task(note_done())
        await asyncio.gather(
            self._accept_sla(over),
            *(self._client(n, over) for n in range(self.plan.clients)),
        )
        if faults_done is not None:
            noting.cancel()

    async def _accept_sla(self, over: Callable[[], bool]) -> None:
        """Accept the SLA tickets evenly over the accept window: their deadlines (seconds
        after acceptance) then fall due all through the run, faults included."""
        if not self.sla:
            return
        gap = self.plan.sla_accept_window_s / len(self.sla)
        sending = []
        for n, ticket_id in enumerate(self.sla):
            if over():
                break
            manager = self.cast.managers[n % len(self.cast.managers)]
            path = f"{INTERNAL}/{ticket_id}/accept"
            # Not awaited one by one: an accept held up by a fault must not hold up the
            # next ticket's, or the deadlines would bunch up after it.
            sending.append(asyncio.create_task(self.sender.send("accept", "POST", path, manager)))
            await asyncio.sleep(gap)
        await asyncio.gather(*sending)

    async def _client(self, n: int, over: Callable[[], bool]) -> None:
        rng = random.Random(f"{self.plan.seed}:{n}")
        customer = self.cast.customers[n % len(self.cast.customers)]
        manager = self.cast.managers[n % len(self.cast.managers)]
        for i in range(self.plan.ops_per_client):
            if over():
                return
            await asyncio.sleep(rng.uniform(0.05, 0.25))
            if self.plan.upload_every and i % self.plan.upload_every == self.plan.upload_every - 1:
                if self.churn:
                    await self._upload(rng, customer, n, i)
                continue
            if not self.churn or rng.random() < 0.25:
                await self._create(customer, n, i, rng)
                continue
            ticket = rng.choice(self.churn)
            op = rng.choices(
                ["accept", "assign", "status", "comment", "priority"], [2, 2, 3, 3, 1]
            )[0]
            if op == "accept":
                await self.sender.send("accept", "POST", f"{INTERNAL}/{ticket}/accept", manager)
            elif op == "assign":
                body = {"assigned_to": rng.choice(self.cast.agent_ids)}
                await self.sender.send(
                    "assign", "POST", f"{INTERNAL}/{ticket}/assign", manager, json=body
                )
            elif op == "status":
                status = rng.choice(["IN_PROGRESS", "WAITING_CUSTOMER", "RESOLVED", "IN_PROGRESS"])
                await self.sender.send(
                    "status",
                    "POST",
                    f"{INTERNAL}/{ticket}/status",
                    manager,
                    json={"status": status},
                )
            elif op == "comment":
                # A customer comments on their own tickets only (others' answer 404).
                own = rng.random() < 0.4 and self._own(customer)
                if own:
                    ticket = rng.choice(own)
                who, internal = (customer, False) if own else (manager, None)
                body = {
                    "content": f"{self.run_tag} c{n}.{i} {rng.getrandbits(32):08x}",
                    "is_internal": bool(internal is None and rng.random() < 0.5),
                }
                await self.sender.send("comment", "POST", f"{COMMENTS}/{ticket}", who, json=body)
            else:
                body = {"priority": rng.choice(["LOW", "MEDIUM", "HIGH"])}
                await self.sender.send(
                    "priority", "POST", f"{INTERNAL}/{ticket}/priority", manager, json=body
                )

    async def _create(self, customer, n: int, i: int, rng: random.Random) -> None:
        body = {
            "subject": f"{self.run_tag} churn {n}.{i}",
            "priority": rng.choice(["LOW", "MEDIUM", "HIGH"]),
        }
        request = await self.sender.send("create", "POST", TICKETS, customer, json=body)
        if request.ok:
            self.churn.append(request.final.body["id"])

    def _own(self, customer: dict[str, str]) -> list[str]:
        """The churn tickets ``customer`` filed."""
        mine = {
            r.final.body["id"]
            for r in self.journal.answered("create")
            if r.final.body.get("requester_id") == _user_id(customer)
        }
        return [t for t in self.churn if t in mine]

    async def _upload(self, rng: random.Random, customer, n: int, i: int) -> None:
        # Only the customer's own tickets: the customers share the organization, but a
        # customer sees only what they filed.
        mine = self._own(customer)
        if not mine:
            return
        ticket = rng.choice(mine)
        data = os.urandom(rng.randint(20_000, 60_000))
        self.uploads.append((ticket, data))
        await self.sender.send(
            "upload",
            "POST",
            f"{ATTACHMENTS}/{ticket}",
            {**customer, **FORM_HEADERS},
            content=lambda: b"".join(form_parts(f"{self.run_tag}-{n}-{i}.bin", data)),
        )


_USER_IDS: dict[str, str] = {}


def _user_id(headers: dict[str, str]) -> str | None:
    return _USER_IDS.get(headers["Authorization"])


def remember(headers: dict[str, str], user_id: str) -> dict[str, str]:
    """Note whose headers these are (for the customer's own tickets)."""
    _USER_IDS[headers["Authorization"]] = user_id
    return headers


assert BOUNDARY  # the form's boundary is the one FORM_HEADERS announce
