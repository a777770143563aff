"""Progress of a long job, shown on a terminal: actors report it, the command line draws it.

A job reports with ``report_progress(runtime, label, done, total)``, which dispatches a
``Progress`` message to the ``PROGRESS`` group: with nobody listening it costs one dispatch to
an empty group. ``neural-actors run`` and ``demo`` start a ``ProgressBar`` listening there when
stderr is a terminal, so a piped run prints nothing extra and a terminal shows a bar instead of
silence until the report.
"""

from __future__ import annotations

from typing import IO, Any

import click

from neural_actors.runtime import Actor, Runtime, message

__all__ = ["PROGRESS", "Progress", "ProgressBar", "report_progress"]

#: The process group ``Progress`` messages are dispatched to.
PROGRESS = "neural_actors.progress"


@message
class Progress:
    """``done`` of ``total`` steps of the work named ``label``."""

    label: str
    done: int
    total: int


def report_progress(runtime: Runtime, label: str, done: int, total: int) -> None:
    """Tell whoever listens (a progress bar, a test) how far ``label`` has come."""
    runtime.dispatch(PROGRESS, Progress(label, done, total))


class ProgressBar(Actor):
    """Draws the ``Progress`` it receives as click progress bars on ``stream``, one per label."""

    def init(self, stream: IO[str]) -> None:
        self.stream = stream
        self.bars: dict[str, Any] = {}
        self.runtime.join(PROGRESS, self.pid)

    def handle_cast(self, msg: Progress) -> None:
        bar = self.bars.get(msg.label)
        if bar is None:
            bar = self.bars[msg.label] = click.progressbar(length=msg.total, label=msg.label, file=self.stream)
            bar.__enter__()
        bar.update(msg.done - bar.pos)
        if msg.done >= msg.total:
            bar.__exit__(None, None, None)

    def terminate(self, reason: Any) -> None:
        for bar in self.bars.values():
            if not bar.finished:
                bar.render_finish()
