"""Trivial workflows measured beside the real ones in the same run and server: the floor of what the server,
the SDK and the worker cost. `BenchNoop` returns at once (starts/s); `BenchUpdateNoop` waits and answers an
update that does nothing (update round trip); it finishes on the `finish` signal.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchNoop")
class BenchNoop:
    """Does nothing."""

    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="BenchUpdateNoop")
class BenchUpdateNoop:
    """Waits for `finish`; its `poke` update returns its argument."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._done)
        return 0

    @workflow.update
    async def poke(self, i: int) -> int:
        """An update that does nothing."""
        return i

    @workflow.signal
    def finish(self) -> None:
        """Let the workflow complete."""
        self._done = True


BASELINE_WORKFLOWS = [BenchNoop, BenchUpdateNoop]
