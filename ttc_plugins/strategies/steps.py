"""The step protocol: a strategy family's decisions as one generator, run by any driver.

A family's core is a generator. It yields a :class:`Step` — the role the calls are charged to and
the calls to make, which may run in parallel — and is sent back the replies, in the order of the
calls. A call that raised comes back as its exception (``BudgetExceeded`` included), never raised
into the generator, so what a failure means is decided in the core. When the family is done the
generator returns its :class:`~ttc_plugins.TTCResult`.

A step also carries the run's ``progress``: the events the family recorded since its previous step,
which a driver reports as they happen (LangGraph's custom stream, ...). They are the first events of
the result, in order, so once the run returns a driver reports the rest of ``result.events``.
:class:`RunLog` numbers a family's steps (for lineage) and hands each step its progress.

Payloads are semantic (the user's input, a question and a candidate, feedback text): each framework's
driver renders them its own way (prompt templates in LangChain, signature fields in DSPy) through the
family's *bindings*, one per call ``target``. This is httpx's ``Auth.auth_flow`` pattern: one
generator of decisions, a runner per I/O style.

:func:`drive` is the official test double, like httpx's ``MockTransport``: it runs a family against
a plain function, so a family's decisions are checked without any framework.

Example:
    >>> from ttc_plugins.results import TTCResult
    >>> def louder(question):  # a toy family: ask twice, keep the longer reply
    ...     replies = yield Step("generator", (Call("generate", question), Call("generate", question)))
    ...     best = max((r for r in replies if isinstance(r, str)), key=len)
    ...     return TTCResult(output=best, answer=best, stop_reason="done")
    >>> answers = iter(["hi", "hello"])
    >>> drive(louder("greet"), lambda call: next(answers)).output
    'hello'
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

from ttc_plugins._scope import budget_role
from ttc_plugins.results import TTCEvent, TTCResult

__all__ = ["Call", "FamilyLoop", "RunLog", "Step", "adrive", "drive"]


@dataclass(frozen=True)
class Call:
    """One call a family asks for.

    Args:
        target: which of the family's bindings answers it ("generate", "score", "critique", ...).
        payload: what the binding is given: the user's input, or a dict of semantic fields.
    """

    target: str
    payload: Any


@dataclass(frozen=True)
class Step:
    """Calls to make, charged to ``role``; they may run in parallel, and reply in this order.

    ``progress`` holds the events the family recorded since its previous step, for the driver to report.
    """

    role: str
    calls: tuple[Call, ...]
    progress: tuple[TTCEvent, ...] = ()

    def __post_init__(self) -> None:
        if not self.calls:
            raise ValueError("a step needs at least one call")


class RunLog:
    """A family's record of one run: numbers its steps (lineage names calls by ``(step, call)``) and
    holds its events, handing each new step those recorded since the last.

    Example:
        >>> log = RunLog()
        >>> log.event("round", round=1)
        >>> step = log.step("generator", "generate", ["q", "q"])
        >>> log.last, [call.target for call in step.calls], [e.kind for e in step.progress]
        (0, ['generate', 'generate'], ['round'])
        >>> log.step("verifier", "score", [1]).progress
        ()
    """

    def __init__(self, events: list[TTCEvent] | None = None) -> None:
        self.count = 0
        self.events = events if events is not None else []  # a tracker's own event list may be shared
        self._reported = 0

    def event(self, kind: str, **data: Any) -> None:
        """Record an event of the run (it goes with the next step as progress, and into the result)."""
        self.events.append(TTCEvent(kind=kind, data=data))

    def step(self, role: str, target: str, payloads: list[Any]) -> Step:
        """The next step: one ``target`` call per payload, charged to ``role``."""
        self.count += 1
        fresh = tuple(self.events[self._reported :])
        self._reported = len(self.events)
        return Step(role, tuple(Call(target, payload) for payload in payloads), fresh)

    @property
    def last(self) -> int:
        """The number of the step yielded last (steps count from 0)."""
        return self.count - 1


FamilyLoop = Generator[Step, list[Any], TTCResult]
"""A family's core: yields steps, is sent each step's replies, returns the result."""


def _answer(respond: Callable[[Call], Any], call: Call) -> Any:
    try:
        return respond(call)
    except Exception as error:  # a failed call is a reply like any other; the core decides what it means
        return error


def drive(loop: FamilyLoop, respond: Callable[[Call], Any]) -> TTCResult:
    """Run a family's generator, answering every call with ``respond(call)`` (under the step's role).

    Calls are answered one after another, in order; an exception ``respond`` raises is sent back as
    that call's reply.

    Example:
        >>> def ask_once(question):
        ...     (reply,) = yield Step("generator", (Call("generate", question),))
        ...     failed = isinstance(reply, Exception)
        ...     return TTCResult(output=reply, answer=None, stop_reason="error" if failed else "done")
        >>> drive(ask_once("q"), lambda call: 1 / 0).stop_reason
        'error'
    """
    replies: list[Any] | None = None
    while True:
        try:
            step = loop.send(replies)  # type: ignore[arg-type]  # the first send must be None
        except StopIteration as done:
            return done.value
        with budget_role(step.role):
            replies = [_answer(respond, call) for call in step.calls]


async def adrive(loop: FamilyLoop, respond: Callable[[Call], Awaitable[Any]]) -> TTCResult:
    """:func:`drive` with an async ``respond``."""
    replies: list[Any] | None = None
    while True:
        try:
            step = loop.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value
        with budget_role(step.role):
            replies = []
            for call in step.calls:
                try:
                    replies.append(await respond(call))
                except Exception as error:
                    replies.append(error)
