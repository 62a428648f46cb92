"""The memory cost model's parts: one-call reflection parsing, run-wide ratings, top-n by partition,
and the run's shared collection (held-back writes, exact mirror reads, reload after a resume)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.memory import reflection as refl
from sociallm.memory.importance import ImportanceRater
from sociallm.memory.records import MemoryRecord
from sociallm.memory.scoring import top_n
from sociallm.memory.store import MemoryStore, WriteBehind, shared_client


def test_one_call_reflection_parses_a_list_and_salvages_a_cut_one() -> None:
    ids = ["A:1", "A:2", "A:3"]
    text = json.dumps(
        [
            {"question": "Who undercuts me", "because": [1, 3, 7], "insight": "Bob undercuts me every round"},
            {"question": "Can I trust Cora?", "because": [2], "insight": "Cora keeps her word"},
        ]
    )
    pairs, repairs = refl.parse_reflections(text, ids, 3)
    assert [q for q, _ in pairs] == ["Who undercuts me?", "Can I trust Cora?"]
    first = pairs[0][1]
    assert first is not None and first.cites == ["A:1", "A:3"] and first.dropped == ["7"]
    assert not repairs
    cut = text[: text.index("Cora keeps")]  # the token limit hit inside the second object
    pairs, repairs = refl.parse_reflections(cut, ids, 3)
    assert len(pairs) == 1 and pairs[0][1] is not None and "salvaged" in repairs[0]
    pairs, _ = refl.parse_reflections('[{"question": "x", "because": [], "insight": "y"}]', ids, 3)
    assert pairs[0][1] is None  # no usable insight: kept as a question, nothing stored
    prompt = refl.reflection_prompt("Ada", ["m1"])
    assert "Carol's notebook" in prompt and prompt.endswith("Reflections: ")


class CountingLLM:
    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        self.requests += requests
        await asyncio.sleep(0.01)  # both raters are in flight at once
        return [GenerationResult(text=" 6", prompt_tokens=1, completion_tokens=1, model="x") for _ in requests]


async def test_run_wide_rater_asks_once_per_text_even_when_two_agents_ask_at_once() -> None:
    llm = CountingLLM()
    rater = ImportanceRater(llm, "Ada", shared=True)  # type: ignore[arg-type]
    line = 'Bram: "Apples are cheap today."'
    a, b = await asyncio.gather(
        rater.rate([line, "Ada: x"], [True, True], seed=1, agent="Ada"),
        rater.rate([line], [True], seed=2, agent="Bram"),
    )
    assert len(llm.requests) == 2  # the shared line once, Ada's own line once
    assert all("Memory (" not in r.prompt for r in llm.requests)  # no rater name in a run-wide prompt
    assert a[0].value == b[0].value == 6 and {a[0].source, b[0].source} == {"model", "cache"}
    assert (await rater.rate([line], [True], agent="Cora"))[0].source == "cache"
    own = ImportanceRater(llm, "Ada")  # type: ignore[arg-type]
    await own.rate(["x"], [True])
    assert "Memory (Ada): x" in llm.requests[-1].prompt


def test_top_n_by_partition_equals_a_full_stable_sort() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        s = rng.integers(0, 4, size=int(rng.integers(1, 40))).astype(float)
        n = int(rng.integers(1, 8))
        assert top_n(s, n).tolist() == np.argsort(-s, kind="stable")[:n].tolist()


def record(agent: str, i: int, seq: int = 1) -> MemoryRecord:
    return MemoryRecord(
        id=f"{agent}:{i}",
        text=f"{agent} memory {i}",
        kind="observation",
        created_tick=1,
        created_seq=seq,
        last_access_tick=1,
        last_access_seq=seq,
        importance=3,
        order=i,
    )


async def test_shared_collection_holds_writes_back_reads_exactly_and_reloads(tmp_path: Path) -> None:
    shared: dict = {}
    behind = WriteBehind()

    def store(agent: str) -> MemoryStore:
        client = shared_client(shared, tmp_path / "m", None)
        return MemoryStore(client, "mem-run-memory", where="x", inline=True, agent=agent, behind=behind)

    ada, bram = store("Ada"), store("Bram")
    vecs = np.eye(4, 8, dtype=np.float32)
    await ada.upsert([record("Ada", i) for i in range(3)], vecs[:3])
    heard = record("Bram", 0).model_copy(update={"text": "Ada memory 1"})  # Bram heard Ada's line 1
    await bram.upsert([heard], vecs[1:2])
    assert len(behind.records) == 4 and ada._col().count() == 0  # nothing written yet
    got, sim = await ada.query(vecs[1], 2)
    assert [r.id for r in got] == ["Ada:1", "Ada:0"] and sim[0] == np.float64(1.0)  # exact; ties: older first
    assert [r.id for r in (await bram.query(vecs[1], 5))[0]] == ["Bram:0"]  # never another agent's
    await ada.touch(["Ada:1"], 2, 9, mark=1)
    await behind.flush()
    # One Chroma record per distinct line: Ada's line 1 and Bram's record of it share one.
    assert ada._col().count() == 3 and await ada.count() == 3 and not behind.records
    assert sorted(await bram.stored()) == ["Bram:0"] and (await bram.stored())["Bram:0"][0] == "Ada memory 1"
    await ada.touch(["Ada:2"], 3, 12, mark=5)  # after a checkpoint: keeps the access before it
    await behind.flush()
    _, meta = (await ada.stored())["Ada:2"]
    assert meta["agent"] == "Ada" and meta["last_access_seq"] == 12 and meta["prev_access_seq"] == 1
    assert (await ada.stored())["Ada:1"][1]["last_access_seq"] == 9
    # A resume: forget what came after seq 0 (nothing), restore accesses after checkpoint 5, reload.
    fresh = store("Ada")
    assert await fresh.undo_touches_after(5) == ["Ada:2"]
    (r2,) = await fresh.get(["Ada:2"])
    assert r2.last_access_seq == 1 and await fresh.count() == 3
    assert (await fresh.stored())["Ada:2"][1]["last_access_seq"] == 1
    # Forgetting Bram's record leaves the line to Ada; forgetting all of Ada's removes the lines.
    assert await store("Bram").delete_after(0) == ["Bram:0"]
    assert ada._col().count() == 3 and not await bram.stored()
    assert await store("Ada").delete_after(0) == ["Ada:0", "Ada:1", "Ada:2"] and ada._col().count() == 0


async def test_a_line_written_before_a_resume_gets_the_new_record_as_one_more_key(tmp_path: Path) -> None:
    """A new process does not know which lines Chroma holds: its upsert of a line already there must keep
    the records on it (Chroma merges the keys)."""
    shared: dict = {}
    vec = np.eye(1, 8, dtype=np.float32)

    def store(behind: WriteBehind, agent: str) -> MemoryStore:
        client = shared_client(shared, tmp_path / "m", None)
        return MemoryStore(client, "mem-run-lines", where="x", inline=True, agent=agent, behind=behind)

    before = WriteBehind()
    await store(before, "Ada").upsert([record("Ada", 0)], vec)
    await before.flush()
    after = WriteBehind()  # the resumed process
    bram = store(after, "Bram")
    await bram.upsert([record("Bram", 0).model_copy(update={"text": "Ada memory 0"})], vec)
    await after.flush()
    assert bram._col().count() == 1
    assert sorted(await bram.stored()) == ["Bram:0"] and sorted(await store(after, "Ada").stored()) == ["Ada:0"]


async def test_a_run_recorded_before_lines_resumes_with_its_memories(tmp_path: Path) -> None:
    """Its collection held a record per agent per line: the first resume writes them as lines."""
    shared: dict = {}
    client = shared_client(shared, tmp_path / "m", None)
    vecs = np.eye(2, 8, dtype=np.float32)
    old = MemoryStore(client, "mem-run-memory", where="x", inline=True)  # the old layout: a row per record
    written = [record("Ada", i).model_copy(update={"agent": "Ada"}) for i in range(2)]
    await old.upsert(written, vecs)
    await old.touch(["Ada:1"], 3, 12, mark=5, records=written[1:])  # accessed after checkpoint 5
    ada = MemoryStore(
        client, "mem-run-lines", where="x", inline=True, agent="Ada", behind=WriteBehind(), legacy="mem-run-memory"
    )
    assert await ada.undo_touches_after(5) == ["Ada:1"]  # the mark came across
    assert await ada.count() == 2 and ada._col().count() == 2
    (r1,) = await ada.get(["Ada:1"])
    assert r1.last_access_seq == 1 and r1.text == "Ada memory 1"
    got, _ = await ada.query(vecs[0], 1)
    assert [r.id for r in got] == ["Ada:0"]
