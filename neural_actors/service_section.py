"""The ``service:`` section of a config: which actor ``neural-actors serve`` calls, and how.

Registered with the config loader when ``neural_actors`` is imported, so ``validate``, ``schema``
and every load know it; it needs none of the service's optional packages. ``neural_actors.service``
reads it.
"""

# No ``from __future__ import annotations``: the loader and the schema read these annotations
# as types.

from typing import Any

import attrs

from neural_actors.supervisors import InvalidChildSpec, register_section
from neural_actors.supervisors.config_format import Seconds
from neural_actors.supervisors.validators import seconds

__all__ = ["ServiceSection"]


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


def _int_at_least(field: str, low: int, high: int | None = None, *, optional: bool = False) -> Any:
    bound = f"from {low} to {high}" if high is not None else f">= {low}"
    reason = f"must be {'None or ' if optional else ''}an int {bound}"

    def check(_: Any, __: Any, value: Any) -> None:
        if optional and value is None:
            return
        if type(value) is not int or value < low or (high is not None and value > high):
            raise InvalidChildSpec(field, value, reason)

    return check


def _model(_: Any, __: Any, value: Any) -> None:
    if type(value) is not str or not value:
        raise InvalidChildSpec("model", value, "must be the non-empty name or group of the model actor")


@attrs.frozen(kw_only=True)
class ServiceSection:
    """``service:``: the HTTP service of ``neural-actors serve`` (``neural_actors.service``)."""

    model: str = attrs.field(
        validator=_model,
        metadata=_doc("the registered name, or else the group, of the actors that answer Infer "
                      "(a group's live members take turns)"),
    )
    timeout: Seconds = attrs.field(
        default=Seconds(5.0), validator=seconds("timeout"),
        metadata=_doc("a model call still unanswered after this is answered 504"),
    )
    retry_after: Seconds = attrs.field(
        default=Seconds(1.0), validator=seconds("retry_after"),
        metadata=_doc("the Retry-After of a 503 (the model restarting, gone or overloaded)"),
    )
    grace: Seconds = attrs.field(
        default=Seconds(10.0), validator=seconds("grace", allow_zero=True),
        metadata=_doc("on SIGTERM, how long requests in flight may take before the tree is stopped"),
    )
    features: int | None = attrs.field(
        default=None, validator=_int_at_least("features", 1, optional=True),
        metadata=_doc("numbers per row of x; checked before the call (422 otherwise)"),
    )
    max_rows: int = attrs.field(
        default=1024, validator=_int_at_least("max_rows", 1),
        metadata=_doc("the most rows one /infer request may send (422 beyond)"),
    )
    required: tuple[str, ...] | None = attrs.field(
        default=None,
        metadata=_doc("ids of the children that must be running for /ready (default: every child)"),
    )
    host: str = attrs.field(default="127.0.0.1", metadata=_doc("the address serve listens on"))
    port: int = attrs.field(
        default=8000, validator=_int_at_least("port", 0, 65535),
        metadata=_doc("the port serve listens on (0: any free port)"),
    )


register_section("service", ServiceSection)
