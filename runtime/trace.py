"""The event trace: what happened, in order, and a hash that says whether two runs agree.

Deterministic simulation is only useful if it can be checked: two runs with the same seed
must produce the same trace, event for event, in any process. Recording costs one
``is not None`` test per event when tracing is off.

Events are rendered to text at once, canonically, so equal values give equal text whatever
process renders them: set members and mapping items are sorted by their rendering (their
iteration order follows string hashes, which ``PYTHONHASHSEED`` changes per process);
messages, dataclasses and NamedTuples render field by field; arrays render as dtype, shape and
a hash of their contents (hashing costs O(size), as a repr would); memory addresses are
dropped from reprs. A value that cannot be rendered becomes ``<TypeName>``: recording never
raises. A user type whose own repr depends on hash order is beyond reach; give it a stable one.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Callable
from typing import Any, final

import attrs
import numpy as np

from .message import MAX_DEPTH, FrozenDict
from .pid import Pid, Ref

__all__ = ["Trace"]


@final
class Trace:
    """An append-only record of runtime events with a running BLAKE2 hash.

    Args:
        now: the clock to stamp events with (the loop's time).
        keep: how many recent events to keep for inspection (all of them feed the hash).
    """

    __slots__ = ("_hash", "_now", "events", "keep")

    def __init__(self, now: Callable[[], float], keep: int = 10_000) -> None:
        self._now = now
        self._hash = hashlib.blake2b(digest_size=16)
        self.events: list[str] = []
        self.keep = keep

    def record(self, kind: str, *fields: Any) -> None:
        """Append one event: its time, kind and fields, rendered canonically."""
        line = f"{self._now():.9f} {kind} " + " ".join(_render(f, 0) for f in fields)
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        if len(self.events) < self.keep:
            self.events.append(line)

    def digest(self) -> str:
        """The hex hash of every event so far."""
        return self._hash.hexdigest()


#: Types whose repr is already canonical.
_REPR: frozenset[type] = frozenset(
    {type(None), bool, int, float, complex, str, bytes, range, Pid, Ref}
)

#: What ``object.__repr__`` and the reprs of functions and methods add: an address.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

#: The runtime's own wrappers, by name (this module sits below them), and their payload.
_WRAPPERS = {
    "Caller": ("call", "request"), "Info": ("info", "msg"), "ContinueItem": ("continue", "term"),
}


def _render(value: Any, depth: int) -> str:
    """The canonical text of ``value``; ``<TypeName>`` if rendering it raises."""
    try:
        return _canonical(value, depth)
    except Exception:
        return f"<{type(value).__name__}>"


def _canonical(value: Any, depth: int) -> str:
    t = type(value)
    if t in _REPR:
        return repr(value)
    if depth >= MAX_DEPTH:
        return "..."
    inner = depth + 1
    if t is tuple:
        items = [_render(v, inner) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if t is list:
        return f"[{', '.join(_render(v, inner) for v in value)}]"
    if t is set or t is frozenset:
        if not value:
            return f"{t.__name__}()"
        members = "{" + ", ".join(sorted(_render(v, inner) for v in value)) + "}"
        return members if t is set else f"frozenset({members})"
    if t is dict or t is FrozenDict:
        items = sorted(f"{_render(k, inner)}: {_render(v, inner)}" for k, v in value.items())
        body = "{" + ", ".join(items) + "}"
        return body if t is dict else f"FrozenDict({body})"
    if isinstance(value, BaseException):
        return f"{t.__name__}({', '.join(_render(a, inner) for a in value.args)})"
    if isinstance(value, np.ndarray):
        return _render_array(value, inner)
    if isinstance(value, enum.Enum):
        return f"{t.__name__}.{value.name}"
    if not isinstance(value, type):
        fields = _fields(value)
        if fields is not None:
            shown = ", ".join(f"{name}={_render(getattr(value, name), inner)}" for name in fields)
            return f"{t.__name__}({shown})"
    if t.__name__ in _WRAPPERS:
        prefix, payload = _WRAPPERS[t.__name__]
        return f"{prefix}:{_render(getattr(value, payload), inner)}"
    if t.__repr__ is object.__repr__:
        return f"<{t.__name__}>"
    return _ADDRESS.sub("", repr(value))


def _fields(value: Any) -> list[str] | None:
    """The shown fields of a record (attrs class, dataclass, NamedTuple), or None."""
    t = type(value)
    if attrs.has(t):
        return [a.name for a in attrs.fields(t) if a.repr]
    if dataclasses.is_dataclass(t):
        return [f.name for f in dataclasses.fields(t) if f.repr]
    if isinstance(value, tuple) and isinstance(getattr(t, "_fields", None), tuple):
        return list(t._fields)
    return None


def _render_array(array: np.ndarray, inner: int) -> str:
    name = type(array).__name__
    if array.dtype.hasobject:
        return f"{name}(object, {array.shape}, {_render(array.tolist(), inner)})"
    data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    digest = hashlib.blake2b(data.data, digest_size=8).hexdigest()
    return f"{name}({array.dtype}, {array.shape}, blake2b:{digest})"
