"""Background work every replica runs: periodic tasks started and stopped by the lifespan.

Each task must be safe to run in several replicas at once (the database arbitrates), and
a failing round is logged by type only (messages can carry values) and retried on the
next tick: a passing database outage must not end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``work`` every ``interval`` seconds (with a little jitter) until stopped."""

    def __init__(self, name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a round failed: log its kind, try again next tick
                log.warning("background task %s failed: %s", self.name, type(exc).__name__)
