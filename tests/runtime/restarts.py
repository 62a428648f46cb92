"""Broker restarts under a live run, heard by a third-party subscriber: the harness of the restart test and bench.

The third party is a plain `mosquitto_sub -q 1 -c -i <fixed id>` started before the run: it knows
nothing of sociallm (no catch-up, no keys), so it hears exactly what the broker delivers to any
QoS 1 subscriber with a persistent session. After the run, every seq in the log must have reached it.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sociallm.runtime.eventlog import read_events
from tests.runtime.broker import Mosquitto


class ThirdParty:
    """mosquitto_sub with a persistent session; prints each message as `topic hex(payload)`."""

    def __init__(self, port: int, client_id: str, run: str, out: Path) -> None:
        self.out = out
        self.run = run
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-c", "-i", client_id]
        cmd += ["-t", "sociallm/#", "-F", "%t %x\\n"]  # every run on this broker (ours has one; the CLI names it)
        if shutil.which("stdbuf"):
            cmd = ["stdbuf", "-oL", *cmd]  # a line per message as it arrives, so we can watch it catch up
        self._file = open(out, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._file, stderr=subprocess.DEVNULL)

    def seqs(self) -> list[int]:
        """Every event seq heard (with repeats), from the raw payloads: body, newline, signature trailer."""
        out = []
        for line in self.out.read_bytes().splitlines():
            topic, _, hexed = line.partition(b" ")
            if not hexed or b"/_ctl" in topic:
                continue
            try:
                body = bytes.fromhex(hexed.decode()).rpartition(b"\n")[0]
                out.append(int(json.loads(body)["seq"]))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    async def wait_for(self, wanted: set[int], timeout_s: float) -> set[int]:
        """Until every wanted seq was heard (or the time is up); returns the ones still missing."""
        deadline = time.monotonic() + timeout_s
        missing = wanted - set(self.seqs())
        while missing and time.monotonic() < deadline:  # polls a file another process writes
            await asyncio.sleep(0.2)
            missing = wanted - set(self.seqs())
        return missing

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self._file.close()


@dataclass
class Outage:
    after_events: int  # when the log holds this many events
    mode: str  # "term" (a graceful stop: SIGTERM, the broker saves its state) or "kill" (SIGKILL)
    down_s: float


@dataclass
class Report:
    run: str
    status: str
    events: int
    outages: list[Outage]
    missing: list[int]
    no_shows: int
    heard_twice: int
    wall_s: float
    done: list[str] = field(default_factory=list)

    def line(self) -> str:
        kinds = ", ".join(f"{o.mode} {o.down_s:.1f}s@{o.after_events}" for o in self.outages)
        return (
            f"{self.run}: {self.status}, {self.events} events, outages [{kinds}], missing {self.missing or 'none'}, "
            f"no-shows {self.no_shows}, repeats heard {self.heard_twice}, {self.wall_s:.0f} s"
        )


def plan(rng: random.Random, n: int, first: int, last: int, kill_share: float = 0.3) -> list[Outage]:
    """n outages at random points between `first` and `last` logged events, 1-5 s each, some of them kill -9."""
    points = sorted(rng.sample(range(first, last), n))
    return [Outage(p, "kill" if rng.random() < kill_share else "term", round(rng.uniform(1, 5), 1)) for p in points]


async def bounce(broker: Mosquitto, outage: Outage) -> None:
    if outage.mode == "kill":
        await broker.kill()
    else:
        await broker.stop()
    await asyncio.sleep(outage.down_s)
    await broker.start()


async def outages_at(events_file: Path, broker: Mosquitto, outages: list[Outage], done: list[str]) -> None:
    """Watch the log grow; take the broker down at each planned point (one outage at a time)."""

    def lines() -> int:
        return events_file.read_bytes().count(b"\n") if events_file.exists() else 0

    for outage in outages:
        while True:  # the log is written by the run, maybe in another process: poll it
            if lines() >= outage.after_events:
                break
            await asyncio.sleep(0.02)
        await bounce(broker, outage)
        done.append(f"{outage.mode} {outage.down_s}s at {outage.after_events}")


async def stressed_run(
    workdir: Path,
    run_id: str,
    outages: list[Outage],
    play,  # async (broker_url, run_dir) -> status: plays the run (in this process, or `sociallm run` in another)
) -> Report:
    broker = Mosquitto(workdir / "broker")
    await broker.start()
    third = ThirdParty(broker.port, f"third-{run_id}", run_id, workdir / "third-party.txt")
    await asyncio.sleep(1.5)  # subscribed, and its session saved (autosave_interval 1) before anything happens
    run_dir = workdir / "run"
    started = time.monotonic()
    done: list[str] = []
    chaos = asyncio.create_task(outages_at(run_dir / "events.jsonl", broker, outages, done))
    try:
        status = await play(broker.url, run_dir)
        wall = time.monotonic() - started
        if not chaos.done():  # the run ended before a planned point: that outage did not happen
            chaos.cancel()
        await asyncio.gather(chaos, return_exceptions=True)
        if broker.proc is None:
            await broker.start()
        logged = read_events(run_dir / "events.jsonl").events
        missing = await third.wait_for({e.seq for e in logged}, 20)
        heard = third.seqs()
    finally:
        chaos.cancel()
        third.stop()
        await broker.stop()
    return Report(
        run=run_id,
        status=status,
        events=len(logged),
        outages=outages[: len(done)],
        missing=sorted(missing),
        no_shows=sum(1 for e in logged if e.payload.get("event") == "no_show"),
        heard_twice=len(heard) - len(set(heard)),
        wall_s=wall,
        done=done,
    )


async def play_cli(url: str, run_dir: Path, *, rounds: int, seed: int, extra: list[str] | None = None) -> str:
    """`sociallm run bertrand --bus URL --workers 2` on the embedded model, as a user would."""
    cmd = [sys.executable, "-m", "sociallm.cli", "run", "bertrand", "--rounds", str(rounds), "--seed", str(seed)]
    cmd += ["--bus", url, "--workers", "2", "--turn-timeout", "60", "--out", str(run_dir), "-q", *(extra or [])]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    (run_dir.parent / "cli-output.txt").write_bytes(out)  # the run's and its workers' warnings, for a post-mortem
    if proc.returncode != 0:
        return f"failed ({proc.returncode}): {out.decode()[-500:]}"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return str(manifest["status"])
