import json
from pathlib import Path

from sociallm.runtime.eventlog import EventLog, read_events
from sociallm.runtime.events import Event
from sociallm.runtime.rundir import truncate_log_after


def write_events(path: Path, n: int) -> None:
    log = EventLog(path)
    for i in range(1, n + 1):
        log.write(Event(kind="message", source="a", seq=i, payload={"text": f"m{i}"}))
    log.close()


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path, 5)
    res = read_events(path)
    assert [e.seq for e in res.events] == [1, 2, 3, 4, 5]
    assert res.problems == [] and not res.torn_tail
    assert res.good_bytes == path.stat().st_size


def test_torn_last_line_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path, 3)
    with open(path, "a") as f:
        f.write('{"id": "x", "kind": "mess')  # the writer died here
    res = read_events(path)
    assert [e.seq for e in res.events] == [1, 2, 3]
    assert res.torn_tail
    assert "torn last line" in res.problems[0]


def test_corrupt_middle_line_is_skipped_and_named(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path, 3)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "not json\n"
    path.write_text("".join(lines))
    res = read_events(path)
    assert [e.seq for e in res.events] == [1, 3]
    assert res.problems and res.problems[0].startswith("events.jsonl:2:")


def test_missing_log(tmp_path: Path) -> None:
    res = read_events(tmp_path / "nope.jsonl")
    assert res.events == [] and "no event log" in res.problems[0]


def test_truncate_after_keeps_tail_aside(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path, 6)
    with open(path, "a") as f:
        f.write('{"torn')
    moved = truncate_log_after(tmp_path, 4)
    assert moved == 3  # seq 5, 6 and the torn line
    assert [e.seq for e in read_events(path).events] == [1, 2, 3, 4]
    side = (tmp_path / "events.discarded-1.jsonl").read_text().splitlines()
    assert [json.loads(s)["seq"] for s in side[:2]] == [5, 6] and side[2] == '{"torn'
    assert truncate_log_after(tmp_path, 4) == 0
