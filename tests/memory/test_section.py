"""The memory section inside real runs: a scripted fake model, a hashed encoder, real embedded Chroma."""

import json
from pathlib import Path

import pytest

from sociallm.backbone.base import BackendError, GenerationRequest
from sociallm.backbone.encoders import EncoderError, make_encoder
from sociallm.memory import section as memory_section
from sociallm.orchestration.run import Run
from sociallm.runtime import registry
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM
from tests.memory.helpers import HashEncoder, memory_reply


@pytest.fixture(autouse=True)
def fast_encoder(monkeypatch):
    enc = HashEncoder()
    monkeypatch.setattr(memory_section, "shared_encoder", lambda shared, name: shared.setdefault("encoder", enc))
    return enc


def memory_events(run_dir: Path, op: str | None = None):
    events = read_events(run_dir / "events.jsonl").events
    return [e for e in events if e.kind == "memory" and (op is None or e.payload["op"] == op)]


async def all_records(run: Run, agent: str):
    store = run.agents[agent].sections[0].store
    # One collection per run, a line per distinct text: an agent's records are its keys on the lines.
    return {i: meta for i, (_, meta) in (await store.stored()).items()}


async def test_run_adds_retrieves_reflects_with_valid_citations(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-memory", {"rounds": 4})
    said = iter(range(1000))

    def varied(req: GenerationRequest) -> str:
        # Distinct lines each turn, so older memories differ from the recent transcript and get shown.
        return f" Offer number {next(said)}: keep prices high." if req.purpose == "talk" else memory_reply(req)

    batches: list[list[str]] = []

    class Recording(FakeLLM):
        async def generate(self, requests):  # type: ignore[override]
            batches.append([r.purpose for r in requests])
            return await super().generate(requests)

    llm = Recording(reply=varied)
    run = Run(spec, tmp_path / "r", llm=llm)
    await run.execute()
    adds = memory_events(tmp_path / "r", "add")
    assert adds and all(e.to == [e.source] for e in adds)  # private to the agent
    # One add event per batch; per agent turn at most one batched rating call.
    rating_calls = [b for b in batches if "memory_importance" in b]
    assert all(set(b) == {"memory_importance"} for b in rating_calls) and len(rating_calls) <= len(adds)
    assert any(len(b) > 1 for b in rating_calls)  # several memories rated in ONE generate() call
    refl = memory_events(tmp_path / "r", "reflection")
    assert refl, "threshold 25 should trigger a reflection within 4 rounds"
    records = await all_records(run, "Alice")
    for e in refl:
        mine = await all_records(run, e.source)
        for ins in e.payload["insights"]:
            if "id" in ins:
                assert ins["cites"] and all(c in mine for c in ins["cites"])
                assert ins["dropped_citations"] == ["9"]  # the script cites memory 9 of at most 5
    alice_reflections = [m for m in records.values() if m["kind"] == "reflection"]
    assert alice_reflections and all(json.loads(m["cites"]) for m in alice_reflections)
    retrieves = memory_events(tmp_path / "r", "retrieve")
    assert retrieves and all(len(e.payload["ids"]) == len(e.payload["scores"]) <= 4 for e in retrieves)
    prompt = [r.prompt for r in llm.requests if r.agent == "Alice" and r.purpose == "talk"][-1]
    assert "Alice remembers:" in prompt and prompt.index("Private notes") < prompt.index("Alice remembers:")
    assert "Alice's conclusions so far:" in prompt
    # Retrieval marked the chosen memories accessed at that tick.
    last = retrieves[-1]
    touched = await all_records(run, last.source)
    assert all(touched[i]["last_access_tick"] == last.tick for i in last.payload["ids"])
    ckpt = json.loads((tmp_path / "r" / "checkpoint.json").read_text())
    st = ckpt["agents"]["Alice"]["sections"]["memory"]
    assert st["added"] == len(records) and st["seen_seq"] > 0


async def test_fake_default_number_reply_is_read_and_recorded(tmp_path: Path) -> None:
    # FakeLLM answers "1.85" to every number request: ratings become 2, with the repair recorded.
    spec = load_scenario("bertrand-memory", {"rounds": 1})
    run = Run(spec, tmp_path / "r", llm=FakeLLM())
    await run.execute()
    add = memory_events(tmp_path / "r", "add")[-1]
    assert any(s.startswith("model") for s in add.payload["importance_source"])
    assert any("read as 2" in r for rs in add.payload["repairs"].values() for r in rs)


async def test_resume_forgets_the_discarded_half_round(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-memory", {"rounds": 4})
    run_dir = tmp_path / "r"

    # Crash inside round 3 after some memory of round 3 has been written (an insight call fails hard
    # only through the run's own talk call, so count talk calls).
    talks = {"n": 0}

    def crashing(req: GenerationRequest) -> str:
        if req.purpose == "talk":
            talks["n"] += 1
            if talks["n"] == 6:  # round 3, second speaker: the first speaker's memories are written
                raise BackendError("server went away")
        return memory_reply(req)

    with pytest.raises(BackendError):
        await Run(spec, run_dir, llm=FakeLLM(reply=crashing)).execute()
    ckpt = json.loads((run_dir / "checkpoint.json").read_text())
    assert ckpt["rounds_completed"] == 2
    mark = ckpt["agents"]["Bob"]["sections"]["memory"]["seen_seq"]

    resumed = Run.resume(run_dir, llm=FakeLLM(reply=memory_reply))
    await resumed.execute()
    forgets = memory_events(run_dir, "forget")
    assert forgets, "memories of the discarded half round must be deleted on resume"
    assert all(e.payload["after_seq"] <= ckpt["seq"] for e in forgets)
    for name in ("Alice", "Bob"):
        records = await all_records(resumed, name)
        # Every record comes from an event in the kept log (no replayed memory remembered twice).
        kept = {e.id for e in read_events(run_dir / "events.jsonl").events}
        for rid, meta in records.items():
            for src in json.loads(meta["sources"]):
                assert src in kept, f"{rid} rests on a discarded event"
        texts = [m for m in records]
        assert len(texts) == len(set(texts))
        state = json.loads((run_dir / "checkpoint.json").read_text())["agents"][name]["sections"]["memory"]
        assert state["added"] >= len([m for m in records.values() if m["kind"] != "reflection"])
    assert mark > 0


async def test_affect_from_the_emotion_section_raises_importance(tmp_path: Path, monkeypatch) -> None:

    monkeypatch.setitem(registry.BUILTIN[registry.SECTIONS], "emotion", "tests.memory.helpers")
    spec = load_scenario("bertrand-memory", {"rounds": 1, "sections.emotion": {"valence": -0.8, "arousal": 0.9}})
    await Run(
        spec, tmp_path / "r", llm=FakeLLM(reply=lambda r: " 5" if r.purpose == "memory_importance" else memory_reply(r))
    ).execute()
    add = next(e for e in memory_events(tmp_path / "r", "add") if "model" in e.payload["importance_source"][-1])
    assert add.payload["affect"] == [-0.8, 0.9]
    # salience = max(0.8, (0.9 - 0.5) / 0.5) = 0.8; 5 + 3 * 0.8 = 7.4
    assert add.payload["importance"][-1] == 7.4 and add.payload["importance_source"][-1] == "model+affect"


def test_unknown_encoder_is_a_clear_error() -> None:
    with pytest.raises(EncoderError, match="unknown encoder 'bert'; known: minilm"):
        make_encoder("bert")
