import asyncio
import time
from pathlib import Path

from sociallm.tui.feed import FollowFeed, ReplayFeed
from tests.tui.helpers import make_run_folder


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


async def test_replay_instant_and_paced(tmp_path: Path) -> None:
    run = await make_run_folder(tmp_path / "r", rounds=2)
    instant = ReplayFeed(run / "events.jsonl", speed=None)
    await instant.pump()
    total = len(instant.events)
    assert instant.finished and instant.pending == total > 20
    paced = ReplayFeed(run / "events.jsonl", speed=200.0)
    t0 = time.monotonic()
    await paced.pump()
    elapsed = time.monotonic() - t0
    assert paced.pending == total and [e.seq for e in paced.drain(10_000)] == list(range(1, total + 1))
    assert total / 200 * 0.7 < elapsed < total / 200 + 1.0


async def test_follow_picks_up_appended_lines_and_waits_for_a_torn_line(tmp_path: Path) -> None:
    run = await make_run_folder(tmp_path / "r", rounds=1)
    lines = (run / "events.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "follow.jsonl"
    path.write_bytes(b"".join(lines[:5]))
    feed = FollowFeed(path, poll_s=0.01)
    task = asyncio.create_task(feed.pump())
    await asyncio.sleep(0.05)
    assert [e.seq for e in feed.drain()] == [1, 2, 3, 4, 5]
    half = len(lines[5]) // 2
    append(path, lines[5][:half])  # the writer is mid-line
    await asyncio.sleep(0.05)
    assert feed.pending == 0 and feed.partial and "unfinished line" in feed.describe()
    append(path, lines[5][half:] + b"garbage\n" + b"".join(lines[6:]))
    await asyncio.sleep(0.05)
    feed.finished = True
    await task
    assert [e.seq for e in feed.drain()] == list(range(6, len(lines) + 1))
    assert len(feed.problems) == 1 and "unreadable line" in feed.problems[0] and not feed.partial


async def test_follow_waits_for_a_log_that_does_not_exist_yet(tmp_path: Path) -> None:
    feed = FollowFeed(tmp_path / "events.jsonl")
    assert feed.read_new() == 0 and feed.problems == []
