"""The event log: `RUN_DIR/events.jsonl`, one event per line, append-only.

Writes are buffered and flushed at every round end and whenever the loop goes idle, so a crash loses
at most the line being written. The reader tolerates that torn last line (and any corrupt line) and
reports it instead of failing, so a crashed run can always be read and resumed.

A write that fails (a full disk, a quota, an I/O error) fails the log for good: the next `write` or
`check` raises `LogWriteError`, one line naming the file and the cause, so the run stops as `failed`
and resumes from its last checkpoint once the cause is fixed. A failure inside the idle-time flush
(an event-loop callback, where raising would only print a traceback) is kept for that next call.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from sociallm.runtime.events import Event

EVENTS_FILE = "events.jsonl"


class LogWriteError(RuntimeError):
    """The event log could not be written; the run cannot go on without losing events."""


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")
        self._flush_scheduled = False
        self.count = 0
        self.error: LogWriteError | None = None

    def _failed(self, exc: OSError) -> LogWriteError:
        if self.error is None:
            cause = exc.strerror or type(exc).__name__
            self.error = LogWriteError(f"cannot write {self.path} ({cause}); the run stopped there")
        return self.error

    def check(self) -> None:
        """Raise the write failure, if any, that an earlier (background) flush ran into."""
        if self.error is not None:
            raise self.error

    def write(self, event: Event) -> None:
        self.check()
        try:
            self._f.write(event.model_dump_json() + "\n")
        except OSError as exc:
            raise self._failed(exc) from None
        self.count += 1
        if not self._flush_scheduled:
            # Coalesce: one flush per burst of events instead of one syscall per event.
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._flush_scheduled = True
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        """Push buffered lines to the OS. Never raises (it runs as a loop callback): see `check`."""
        self._flush_scheduled = False
        if self.error is None and not self._f.closed:
            try:
                self._f.flush()
            except OSError as exc:
                self._failed(exc)

    def fileno(self) -> int:
        return self._f.fileno()

    def sync(self) -> None:
        """Flush and fsync: called at round ends, where the checkpoint will point."""
        self.flush()
        self.check()
        if not self._f.closed:
            try:
                os.fsync(self._f.fileno())
            except OSError as exc:
                raise self._failed(exc) from None

    def close(self) -> None:
        """Sync and close; after a write failure, close without writing what is still buffered."""
        if self._f.closed:
            return
        try:
            self.sync()
        except LogWriteError:
            pass
        try:
            self._f.close()  # closes the descriptor even when the final flush fails
        except OSError:
            pass  # what the disk refused is dropped: nothing after the last checkpoint is needed to resume


@dataclass
class LogReadResult:
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    torn_tail: bool = False
    # Byte offset just past the last good line: where a resumed run may append.
    good_bytes: int = 0


def read_events(path: Path) -> LogReadResult:
    """Read a log, skipping and reporting bad lines; a torn last line is expected after a crash."""
    result = LogReadResult()
    if not path.exists():
        result.problems.append(f"{path}: no event log")
        return result
    data = path.read_bytes()
    offset = 0
    lines = data.split(b"\n")
    last = len(lines) - 1
    for i, raw in enumerate(lines):
        end = offset + len(raw) + (1 if i < last else 0)
        if i == last and raw == b"":
            break
        try:
            if i == last:
                # No newline after it: the writer died mid-line, even if the JSON happens to parse.
                raise ValueError("no newline at end of log")
            result.events.append(Event.model_validate(json.loads(raw)))
            result.good_bytes = end
        except (ValueError, ValidationError) as exc:
            if i == last:
                result.torn_tail = True
                result.problems.append(
                    f"{path.name}:{i + 1}: torn last line ({len(raw)} bytes, the run stopped mid-write); ignored"
                )
            else:
                reason = str(exc).splitlines()[0][:120]
                result.problems.append(f"{path.name}:{i + 1}: unreadable line skipped ({reason})")
        offset = end
    return result
