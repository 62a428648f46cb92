"""Signals: SIGTERM and SIGHUP stop a run the way Ctrl-C does, so it can tell the truth about it.

Without a handler SIGTERM (what `kill`, systemd, docker stop and job schedulers send) or SIGHUP (a
closed terminal or ssh session) ends the process at once: the manifest still says `running`, the last
buffered events are lost and the run folder stays locked until the process is gone. `run_main` runs
the work like `asyncio.run` does, and on either signal cancels it; every run in it then records
status `interrupted` with the signal's name, flushes and fsyncs its log, writes its manifest and
releases its folder, and `run_main` raises `Interrupted` (the CLI exits 128 + the signal number).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_stop: dict[str, str | None] = {"reason": None}


class Interrupted(Exception):
    """The work was stopped by a signal (after every run in it recorded `interrupted`)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def stop_reason() -> str | None:
    """Why the work is being cancelled ("stopped by SIGTERM"), or None when no signal came."""
    return _stop["reason"]


def run_main(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)`, with SIGTERM and SIGHUP handled as described in the module docstring."""

    async def main() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        got: list[int] = []

        def on_signal(signum: int) -> None:
            if got:  # a second signal while the runs write their ends: let them finish
                return
            got.append(signum)
            _stop["reason"] = f"stopped by {signal.Signals(signum).name}"
            task.cancel()

        installed = []
        for sig in SIGNALS:
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no Unix signals
                pass
        try:
            return await coro
        except asyncio.CancelledError:
            if got:
                raise Interrupted(got[0]) from None
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    _stop["reason"] = None
    try:
        return asyncio.run(main())
    finally:
        _stop["reason"] = None
