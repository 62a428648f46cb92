"""Real parts: the MiniLM encoder, embedded ChromaDB, a `chroma run` server, the embedded model."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sociallm.backbone.encoders import make_encoder
from sociallm.memory.records import MemoryRecord
from sociallm.memory.store import MemoryStore, MemoryStoreError, collection_name, shared_client
from sociallm.runtime.eventlog import read_events

pytestmark = pytest.mark.integration

CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("chroma server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


@pytest.fixture
def server(tmp_path: Path):
    if not CHROMA.exists():
        pytest.skip(f"chroma CLI not found at {CHROMA}")
    srv = ChromaServer(tmp_path / "chroma", free_port())
    srv.start()
    yield srv
    srv.stop()


def record(i: int, text: str) -> MemoryRecord:
    return MemoryRecord(
        id=f"A:{i}", text=text, kind="observation", created_tick=i, created_seq=i, last_access_tick=i,
        last_access_seq=i, importance=1 + i % 10,
    )  # fmt: skip


@pytest.fixture(scope="module")
def encoder():
    return make_encoder("minilm")


async def test_real_encoder_batches_caches_and_normalises(encoder) -> None:
    texts = ["Bob cut his price to win customers.", "Bob lowered prices to steal buyers.", "The weather is nice."]
    v = await encoder.encode(texts)
    assert v.shape == (3, 384) and np.allclose((v**2).sum(1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]  # paraphrase closer than an unrelated line
    before = encoder.encoded
    again = await encoder.encode([texts[0], texts[0]])
    assert encoder.encoded == before and np.allclose(again[0], v[0])


async def test_embedded_store_survives_reopen_and_forgets_after_seq(tmp_path: Path, encoder) -> None:
    texts = ["Alice keeps prices high.", "Bob undercut Alice.", "A quiet round."]
    vecs = await encoder.encode(texts)
    shared: dict = {}
    store = MemoryStore(shared_client(shared, tmp_path / "m", None), collection_name("run", "Alice"), where="x")
    await store.upsert([record(i, t) for i, t in enumerate(texts)], vecs)
    await store.upsert([record(0, texts[0])], vecs[:1])  # duplicate id: upsert, not a crash or a copy
    assert await store.count() == 3
    # A fresh client on the same folder (a new process after a crash) sees the same stream.
    store2 = MemoryStore(shared_client({}, tmp_path / "m", None), collection_name("run", "Alice"), where="x")
    (q,) = await encoder.encode(["Who undercut whom?"])
    records, sims = await store2.query(q, 2)
    assert records[0].text == "Bob undercut Alice." and sims[0] > sims[1]
    assert sorted(await store2.delete_after(0)) == ["A:1", "A:2"] and await store2.count() == 1


async def test_http_store_retries_through_a_server_restart(server: ChromaServer, encoder) -> None:
    shared: dict = {}
    store = MemoryStore(
        shared_client(shared, None, server.url),
        collection_name("run", "Bob"),
        where=server.url,
        retries=8,
        backoff_s=0.2,
    )
    texts = [f"Round {i}: Bob set price {1.5 + i / 10:.2f}." for i in range(20)]
    vecs = await encoder.encode(texts)
    await store.upsert([record(i, t) for i, t in enumerate(texts)], vecs)
    server.stop()

    async def restart_later() -> None:
        await asyncio.sleep(0.6)
        await asyncio.to_thread(server.start)

    restarter = asyncio.create_task(restart_later())
    records, _ = await store.query(vecs[3], 5)  # fails while down, succeeds once the server is back
    await restarter
    assert records[0].id == "A:3" and store.retried >= 1
    assert await store.count() == 20  # nothing written before the restart was lost


async def test_http_store_down_gives_one_line_error_naming_the_url(encoder) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = MemoryStore(shared_client({}, None, url), "mem-x-y", where=url, retries=2, backoff_s=0.05)
    with pytest.raises(MemoryStoreError) as info:
        await store.count()
    msg = str(info.value)
    assert url in msg and "\n" not in msg and "after 3 attempts" in msg


async def test_bertrand_memory_run_on_the_embedded_model(tmp_path: Path) -> None:
    """The real thing: Gemma 3 270M rates, asks and cites; reflections cite stored memories."""
    from sociallm.orchestration.run import Run
    from sociallm.runtime.scenario import load_scenario

    spec = load_scenario(
        "bertrand-memory", {"rounds": 2, "sections.memory.reflect_threshold": 20, "sections.memory.questions": 2}
    )
    run = Run(spec, tmp_path / "r")
    result = await run.execute()
    assert result.status == "completed"
    events = read_events(tmp_path / "r" / "events.jsonl").events
    mem = [e for e in events if e.kind == "memory"]
    refl = [e for e in mem if e.payload["op"] == "reflection"]
    assert refl, "no reflection in 2 rounds with threshold 20"
    stored_any = False
    for e in refl:
        stored = await run.agents[e.source].sections[0].store.stored()  # as Chroma holds them
        for ins in e.payload["insights"]:
            if "id" in ins:
                stored_any = True
                got = [i for i in ins["cites"] if i in stored]
                assert sorted(got) == sorted(ins["cites"]), "an insight cites a memory that is not stored"
                assert json.loads(stored[ins["id"]][1]["cites"]) == ins["cites"]
    assert stored_any, "the model produced no insight with a valid citation"
    ratings = [e for e in events if e.kind == "llm_call" and e.payload["purpose"] == "memory_importance"]
    assert ratings and all(e.payload["constraint"] == "number" for e in ratings)
    if os.environ.get("SOCIALLM_KEEP_RUN"):  # to read the model's questions and insights afterwards
        shutil.copytree(tmp_path / "r", os.environ["SOCIALLM_KEEP_RUN"])


async def test_scenario_run_against_a_chroma_server(server: ChromaServer, tmp_path: Path, monkeypatch) -> None:
    """`url:` sends the same section to a Chroma server (scripted model, hashed encoder: fast)."""
    from sociallm.memory import section as memory_section
    from sociallm.orchestration.run import Run
    from sociallm.runtime.scenario import load_scenario
    from tests.fakes import FakeLLM
    from tests.memory.helpers import HashEncoder, memory_reply

    enc = HashEncoder()
    monkeypatch.setattr(memory_section, "shared_encoder", lambda shared, name: shared.setdefault("encoder", enc))
    spec = load_scenario("bertrand-memory", {"rounds": 3, "sections.memory.url": server.url})
    run = Run(spec, tmp_path / "r", llm=FakeLLM(reply=memory_reply))
    await run.execute()
    assert not (tmp_path / "r" / "memory").exists()  # nothing embedded: all on the server
    events = read_events(tmp_path / "r" / "events.jsonl").events
    assert any(e.kind == "memory" and e.payload["op"] == "reflection" for e in events)
    alice = run.agents["Alice"].sections[0]
    assert await alice.store.count() == alice.added
