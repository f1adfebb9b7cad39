"""One AppFlow per `flow.start`, run as a task that pushes its events to the connection that started
it. The flow's questions (take the cached app? allow these capabilities?) become pending answers
that `flow.answer` / `flow.approve` fill; an unanswered question ends the flow after a timeout
rather than silently choosing, and a closed connection cancels its flows (nobody is left to ask)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from llmos.api import Ask, Offer
from llmos.ipc import Connection, ErrorCode, RpcError

from .events import Event, Events, failed, outcome

log = logging.getLogger("llmos.kernel.flow.sessions")

Push = Callable[["FlowSession", Mapping[str, object]], Awaitable[None]]
Decision = bool | list[str]  # offered-cached: take the cached app; needs-approval: the granted scopes


class NoAnswer(Exception):
    """A question was not answered in time."""


@dataclass
class Question:
    kind: str                      # offered-cached | needs-approval
    future: asyncio.Future[Decision]
    asks: list[Ask] = field(default_factory=list)


class SessionDecisions:
    """The pipeline's Decisions, answered over the socket (flow.answer, flow.approve)."""

    def __init__(self, session: FlowSession, timeout: float) -> None:
        self.session, self.timeout = session, timeout

    async def _ask(self, question: Question) -> Decision:
        self.session.question = question
        try:
            return await asyncio.wait_for(question.future, self.timeout)
        except TimeoutError:
            raise NoAnswer(f"no answer to {question.kind} within {self.timeout:g} s; the flow was ended") \
                from None
        finally:
            self.session.question = None

    async def accept_cached(self, offer: Offer) -> bool:
        loop = asyncio.get_running_loop()
        return bool(await self._ask(Question("offered-cached", loop.create_future())))

    async def approve(self, asks: list[Ask]) -> set[str]:
        loop = asyncio.get_running_loop()
        granted = await self._ask(Question("needs-approval", loop.create_future(), list(asks)))
        return set(granted) if isinstance(granted, list) else set()


@dataclass(eq=False)
class FlowSession:
    id: str
    connection: Connection
    push: Push
    question: Question | None = None
    task: asyncio.Task[None] | None = None
    state: str = "running"

    def answer(self, kind: str, value: Decision) -> None:
        question = self.question
        if question is None or question.kind != kind or question.future.done():
            waiting = question.kind if question else "nothing"
            raise RpcError(ErrorCode.NOT_ASKED, f"flow {self.id} is waiting for {waiting}, not {kind}")
        if kind == "needs-approval":
            offered = {a.scope for a in question.asks}
            extra = sorted(set(value if isinstance(value, list) else ()) - offered)
            if extra:
                raise RpcError(ErrorCode.BAD_REQUEST,
                               f"granted scopes that were not asked for: {', '.join(extra)}")
        question.future.set_result(value)

    async def send(self, event: Event) -> None:
        await self.push(self, {"flow": self.id, **event.to_json()})

    async def run(self, events: Events) -> None:
        ok = False
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    ok = outcome(ok, event.kind)
                    await self.send(event)
            self.state = "done" if ok else "failed"
        except asyncio.CancelledError:
            self.state = "cancelled"
            await self.send(Event("cancelled"))
            ok = False
        except NoAnswer as error:
            self.state = "failed"
            await self.send(failed(str(error)))
            ok = False
        except Exception as error:  # a flow bug must not take the kernel down
            log.exception("flow %s failed", self.id)
            self.state = "failed"
            await self.send(failed(f"internal error: {type(error).__name__}: {error}"))
            ok = False
        await self.send(Event("finished", {"ok": ok, "state": self.state}))


class FlowTable:
    """The kernel's live flows, by id."""

    def __init__(self, decision_timeout: float) -> None:
        self.decision_timeout = decision_timeout
        self.sessions: dict[str, FlowSession] = {}
        self._watched: set[Connection] = set()

    def start(self, connection: Connection, push: Push,
              make_events: Callable[[SessionDecisions], Events]) -> FlowSession:
        session = FlowSession(secrets.token_hex(6), connection, push)
        events = make_events(SessionDecisions(session, self.decision_timeout))
        self.sessions[session.id] = session
        session.task = asyncio.get_running_loop().create_task(self._run(session, events))
        if connection not in self._watched:
            self._watched.add(connection)
            asyncio.get_running_loop().create_task(self._cancel_on_close(connection))
        return session

    async def _run(self, session: FlowSession, events: Events) -> None:
        try:
            await session.run(events)
        finally:
            self.sessions.pop(session.id, None)

    async def _cancel_on_close(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            await connection.writer.wait_closed()
        self._watched.discard(connection)
        for session in [s for s in self.sessions.values() if s.connection is connection]:
            log.info("flow %s: its connection closed; cancelling", session.id)
            self.cancel(session.id)

    def get(self, flow_id: object) -> FlowSession:
        session = self.sessions.get(flow_id) if isinstance(flow_id, str) else None
        if session is None:
            raise RpcError(ErrorCode.NO_SUCH_FLOW, f"no running flow {flow_id!r}")
        return session

    def cancel(self, flow_id: object) -> bool:
        session = self.get(flow_id)
        if session.task and not session.task.done():
            session.task.cancel()
            return True
        return False

    async def cancel_all(self) -> None:
        tasks = [s.task for s in self.sessions.values() if s.task and not s.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
