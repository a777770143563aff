"""Crash, exit and runtime reports, and the level gate every event of a runtime passes.

Reports are structlog events. Two rules shape this module:

- **A report never raises.** Formatting a reason or writing to a broken log sink (a closed
  pipe, a full disk) must not fail the process being reported on: a crash report that
  crashes would leave the crashing process half torn down. Such errors are swallowed.
- **One level per runtime.** ``Runtime(log_level=...)`` filters the events of the runtime, of
  its supervisors and of every actor logging through ``self.log``, on top of whatever structlog
  is configured to do (both must let an event through). Lifecycle events (spawn, start,
  exit) are debug, crash reports error.
"""

from __future__ import annotations

import logging
from typing import Any, final

import structlog

from .errors import format_reason, safe_repr
from .links import KILLED, is_shutdown
from .pid import Pid

__all__ = ["LEVELS", "Logger", "Reports"]

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@final
class Logger:
    """A structlog logger behind a level gate; what ``Actor.log`` returns.

    Events below ``level`` cost one comparison. Writing an event never raises.
    """

    __slots__ = ("_logger", "level")

    def __init__(self, logger: Any, level: int) -> None:
        self._logger = logger
        self.level = level

    def bind(self, **fields: Any) -> Logger:
        """A logger with ``fields`` added to every event."""
        return Logger(self._logger.bind(**fields), self.level)

    def is_enabled_for(self, level: int) -> bool:
        """True if events at ``level`` pass the gate."""
        return level >= self.level

    def log(self, level: int, event: str, **fields: Any) -> None:
        """Log ``event`` at ``level`` (a ``logging`` level number)."""
        if level >= self.level:
            try:
                self._logger.log(level, event, **fields)
            except Exception:  # noqa: BLE001 - a broken sink must not break the runtime
                pass

    def debug(self, event: str, **fields: Any) -> None:
        self.log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(logging.WARNING, event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log(logging.ERROR, event, **fields)

    def critical(self, event: str, **fields: Any) -> None:
        self.log(logging.CRITICAL, event, **fields)


@final
class Reports:
    """The reports of one runtime: crashes, exits, internal errors, lifecycle events."""

    __slots__ = ("debug", "log")

    def __init__(self, node: int, level: int) -> None:
        self.log = Logger(structlog.get_logger("neural_actors.runtime").bind(node=node), level)
        self.debug = level <= logging.DEBUG  # decided once: lifecycle events sit on hot paths

    def crash(self, pid: Pid, actor: str, name: Any, exc: BaseException) -> None:
        """A callback raised: the process exits with ``exc`` (OTP's crash report)."""
        self.log.error(
            "crash_report", pid=repr(pid), actor=actor, name=safe_repr(name), reason=format_reason(exc), exc_info=exc
        )

    def exited(self, pid: Pid, actor: str, reason: Any, unhandled: int) -> None:
        """A process exited; abnormal exits at info, shutdowns and kills at debug."""
        quiet = is_shutdown(reason) or reason == KILLED
        if quiet and not self.debug:
            return
        self.log.log(
            logging.DEBUG if quiet else logging.INFO,
            "exit",
            pid=repr(pid),
            actor=actor,
            reason=format_reason(reason),
            unhandled_messages=unhandled,
        )

    def internal_error(self, pid: Pid, exc: BaseException) -> None:
        """A bug in the runtime itself: say so loudly."""
        self.log.critical(
            "internal_error", pid=repr(pid), hint="internal error in neural-actors - please report it", exc_info=exc
        )
