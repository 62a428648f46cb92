"""Progress of long work from Python (`run()`, `Experiment.run()`): one line on the terminal, rewritten
in place, with what is done, what is left and an estimate of the time left.

Only on a terminal: in a pipe, a log file or CI it writes nothing (a caller's own output stays clean),
and `progress=False` silences it anywhere. The estimate comes from this session's pace alone, so rounds
a resumed run or sweep had already played do not make it look faster than it is.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def fmt_duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def eta(started: float, done_then: int, done: int, total: int, now: float | None = None) -> float | None:
    """Seconds left at the pace since `started` (when `done_then` were done); None before any pace is known."""
    now = time.monotonic() if now is None else now
    if done <= done_then or total <= done:
        return None if total > done else 0.0
    return (now - started) / (done - done_then) * (total - done)


class ProgressLine:
    """`label: 3/12 rounds, 1/5 runs, 42 s elapsed, ~2 min 10 s left` on stderr, updated in place."""

    def __init__(self, label: str, total: int, *, unit: str = "rounds", stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:  # fmt: skip
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = isatty() if enabled is None else enabled
        self.label, self.total, self.unit = label, total, unit
        self.started = time.monotonic()
        self.done_then: int | None = None  # what was done when this session started counting
        self.width = 0

    def update(self, done: int, extra: str = "", total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self.done_then is None:
            self.done_then, self.started = done, time.monotonic()
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        left = eta(self.started, self.done_then, done, self.total)
        text = f"{self.label}: {done}/{self.total} {self.unit}"
        text += f", {extra}" if extra else ""
        text += f", {fmt_duration(elapsed)} elapsed"
        text += f", ~{fmt_duration(left)} left" if left is not None else ""
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


def want_progress(progress: Any) -> bool | None:
    """`progress=` of the Python API: None (a terminal decides), True, False."""
    if progress is None or isinstance(progress, bool):
        return progress
    raise TypeError(f"progress: expected True, False or None (a terminal decides), got {progress!r}")
