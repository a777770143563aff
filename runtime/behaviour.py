"""The contract between the process loop and an actor: its callbacks and what they may return.

A process runs any class with gen_server's six callbacks (``Actor`` is the base class that
gives each a default). This module names them and the values the loop understands, so the loop
needs nothing from ``actor.py``: ``Continue`` (run ``handle_continue`` next), ``NoReply``
(``handle_call`` will reply later), ``Ignore`` (``init`` declines to start) and ``Stop``.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Final, Protocol, final, runtime_checkable

import attrs

from .message import check_immutable

__all__ = ["CALLBACKS", "Behaviour", "Continue", "Ignore", "NoReply", "Stop", "is_async_behaviour"]

CALLBACKS = ("init", "handle_call", "handle_cast", "handle_info", "handle_continue", "handle_timeout", "terminate")


@runtime_checkable
class Behaviour(Protocol):
    """What a process runs: an object with gen_server's callbacks (``Actor`` provides them all)."""

    def init(self, *args: Any, **kwargs: Any) -> Any: ...
    def handle_call(self, msg: Any, caller: Any) -> Any: ...
    def handle_cast(self, msg: Any) -> Any: ...
    def handle_info(self, msg: Any) -> Any: ...
    def handle_continue(self, term: Any) -> Any: ...
    def terminate(self, reason: Any) -> Any: ...
    def handle_timeout(self) -> Any: ...
    def format_status(self, state: dict[str, Any]) -> dict[str, Any]: ...
    def __neural_actors_attach__(self, process: Any) -> None: ...


@final
class _NoReplyType:
    """The type of ``NoReply``."""

    _instance: ClassVar[_NoReplyType | None] = None

    def __new__(cls) -> _NoReplyType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NoReply"

    def __reduce__(self) -> str:
        return "NoReply"


#: Return this from ``handle_call`` to reply later with ``caller.reply(value)``.
NoReply: Final = _NoReplyType()


@final
@attrs.frozen
class Continue:
    """Return from ``init``, ``handle_cast`` or ``handle_info`` to run ``handle_continue(term)`` next.

    The continuation runs before any other message, so ``init`` can return quickly (its
    starter stops waiting) and finish expensive set-up, such as loading weights, afterwards.
    """

    term: Any = None


@final
@attrs.frozen
class Ignore:
    """Return from ``init`` to decline to start, as OTP's ``ignore``.

    The process exits with reason ``normal``; ``start`` raises ``StartIgnored``, and a
    supervisor keeps the child's spec with no process (it shows as stopped).
    """


class Stop(Exception):
    """Raise from a callback to stop the process with ``reason`` after running ``terminate``.

    Args:
        reason: the exit reason (``"normal"`` exits quietly; anything else is an error to links).
        reply: from ``handle_call``, a reply sent to the caller before stopping.
    """

    def __init__(self, reason: Any = "normal", *, reply: Any = NoReply) -> None:
        # Links and monitors share the reason: refuse a mutable one here, in the raiser's frame.
        check_immutable(reason, "Stop.reason")
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


_ASYNC_CLASSES: dict[type, bool] = {}


def is_async_behaviour(cls: type) -> bool:
    """True if any callback of ``cls`` is ``async def`` (decided once per class)."""
    cached = _ASYNC_CLASSES.get(cls)
    if cached is None:
        cached = any(inspect.iscoroutinefunction(getattr(cls, name, None)) for name in CALLBACKS)
        _ASYNC_CLASSES[cls] = cached
    return cached
