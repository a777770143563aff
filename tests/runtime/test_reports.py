"""The runtime's reports: the level gate of ``Runtime(log_level=...)`` over the runtime's,
its supervisors' and its actors' events."""

import pytest
from neural_actors.runtime import Actor, Runtime
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags


class Chatty(Actor):
    def init(self) -> None:
        self.log.info("loaded", rows=3)
        self.log.warning("slow_disk")


@pytest.mark.asyncio
async def test_log_level_filters_the_runtimes_supervisors_and_actors_events(log_events: list) -> None:
    """At ``warning``, supervisors' info reports and actors' info events are dropped; warnings
    and errors pass."""
    async with Runtime(clock="virtual", log_level="warning") as rt:
        await rt.start(Supervisor, SupervisorFlags(), [ChildSpec(id="c", start=(Chatty, ()))])

    assert ["slow_disk"] == [e["event"] for e in log_events]


@pytest.mark.asyncio
async def test_the_default_level_lets_info_reports_through(log_events: list) -> None:
    async with Runtime(clock="virtual") as rt:
        await rt.start(Supervisor, SupervisorFlags(), [ChildSpec(id="c", start=(Chatty, ()))])

    events = [e["event"] for e in log_events]
    assert {"child_started", "loaded", "slow_disk"} <= set(events)


def test_an_unknown_log_level_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="log_level must be one of debug, info, warning, error, critical \\(got 'loud'\\)"):
        Runtime(log_level="loud")
