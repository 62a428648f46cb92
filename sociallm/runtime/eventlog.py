"""The event log: `RUN_DIR/events.jsonl`, one event per line, append-only.

Writes are buffered and flushed at every round end and whenever the loop goes idle, so a crash loses
at most the line being written. The reader tolerates that torn last line (and any corrupt line) and
reports it instead of failing, so a crashed run can always be read and resumed.
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


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")
        self._flush_scheduled = False
        self.count = 0

    def write(self, event: Event) -> None:
        self._f.write(event.model_dump_json())
        self._f.write("\n")
        self.count += 1
        if not self._flush_scheduled:
            # Coalesce: one flush per burst of events instead of one syscall per event.
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._flush_scheduled = True
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._f.closed:
            self._f.flush()

    def fileno(self) -> int:
        return self._f.fileno()

    def sync(self) -> None:
        """Flush and fsync: called at round ends, where the checkpoint will point."""
        self.flush()
        if not self._f.closed:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self.sync()
            self._f.close()


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
