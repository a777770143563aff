"""How a node (or the directory) learns that another node is gone, from Ray's own detection.

The watcher keeps one call pending on the peer's ``watch`` method, which never returns while
the peer runs. Ray fails that call when the peer's process dies (``ActorDiedError``), at once,
with no heartbeat of ours. A peer that stops on purpose answers it, which counts the same.

A node Ray restarts (``restart=True``) runs under the same actor, so a call may also fail with
``ActorUnavailableError`` ("restarting", "was restarted"), which says nothing about *which*
incarnation answers now. Then the watcher asks the actor its node number (``ready``): the same
number means the incarnation it watches is still there (the failure was about the one before);
another means it is gone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray.exceptions

__all__ = ["until_lost"]

#: Pauses between asking a restarting actor who it is (about 30 s in all).
PAUSES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, *(2.0,) * 13)


async def until_lost(node: int, handle: Any) -> None:
    """Return when the incarnation ``node`` of the actor behind ``handle`` is gone."""
    while True:
        try:
            await handle.watch.remote()
            return
        except ray.exceptions.ActorUnavailableError:
            if not await _still(node, handle):
                return
        except Exception:  # noqa: BLE001 - any other failure of the call: the node is gone
            return


async def _still(node: int, handle: Any) -> bool:
    for pause in PAUSES:
        try:
            number, _ = await handle.ready.remote()
        except ray.exceptions.ActorUnavailableError:
            await asyncio.sleep(pause)
        except Exception:  # noqa: BLE001 - dead for good
            return False
        else:
            return bool(number == node)
    return False
