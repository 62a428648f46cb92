"""Memory figures: retrieval latency at 10k/100k memories, encoder throughput, memory per turn.

- Retrieval: one agent's collection (embedded ChromaDB) filled with N random unit vectors and
  realistic metadata; queries are real MiniLM embeddings of game lines; each query is the section's
  own path: Chroma top-k (k=50) by relevance, full re-scoring of the candidates (recency, importance,
  relevance, min-max), top 10. The last-access update is timed separately (it is a write).
- Encoder: the same texts encoded in one batched call vs one call per text (cache off).
- A real short run of `bertrand-memory` on the embedded model (or an existing run folder): memories
  and bytes added per agent turn, and memory model calls per turn.

    python bench/bench_memory.py [--sizes 10000,100000] [--rounds 2] [--run RUN_DIR | --no-run]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.backbone.encoders import MiniLMEncoder
from sociallm.memory import scoring
from sociallm.memory.records import MemoryRecord
from sociallm.memory.store import MAX_BATCH, MemoryStore, shared_client

QUERIES = [
    'Bob: "I will cut my price to win the market."',
    'Alice: "Let us both keep prices at 1.90."',
    "Market: Alice: price $1.85, profit $0.33; Bob: price $1.20, profit $0.16",
    'Bob: "You broke our deal, I will not forget it."',
    "--- Round 7 ---",
]


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


async def retrieval(sizes: list[int], encoder: MiniLMEncoder, repeats: int) -> None:
    qvecs = await encoder.encode(QUERIES)
    rng = np.random.default_rng(0)
    print("retrieval (embedded Chroma, k=50 candidates re-scored, top 10):")
    print(f"{'memories':>9} {'fill s':>8} {'fill/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'touch p50 ms':>13}")
    with tempfile.TemporaryDirectory() as d:
        filled = 0
        store = MemoryStore(shared_client({}, Path(d) / "m", None), "mem-bench-A", where=d)
        for n in sorted(sizes):
            fill_s = await fill_range(store, filled, n, rng)
            rate = (n - filled) / fill_s if fill_s else 0.0
            filled = n
            lat, touch = [], []
            now = n // 10
            for r in range(repeats):
                q = qvecs[r % len(qvecs)]
                t0 = time.perf_counter()
                records, rel = await store.query(q, 50)
                rec = scoring.recency(now, np.array([x.last_access_tick for x in records]), 0.9)
                imp = np.array([x.importance for x in records])
                best = scoring.top_n(scoring.scores(rec, imp, rel), 10)
                lat.append((time.perf_counter() - t0) * 1000)
                assert len(best) == 10
                t1 = time.perf_counter()
                await store.touch([records[i].id for i in best], now, n)
                touch.append((time.perf_counter() - t1) * 1000)
            print(
                f"{n:>9} {fill_s:>8.1f} {rate:>8.0f} {statistics.median(lat):>8.2f} {pct(lat, 95):>8.2f} "
                f"{statistics.median(touch):>13.2f}"
            )


async def fill_range(store: MemoryStore, start: int, end: int, rng: np.random.Generator) -> float:
    t0 = time.perf_counter()
    for s in range(start, end, MAX_BATCH):
        m = min(MAX_BATCH, end - s)
        vecs = rng.standard_normal((m, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        recs = [
            MemoryRecord(
                id=f"A:{s + i}",
                text=f"Memory number {s + i}: Bob set a price of {1 + (s + i) % 100 / 100:.2f}.",
                kind="observation",
                created_tick=(s + i) // 10,
                created_seq=s + i,
                last_access_tick=(s + i) // 10,
                last_access_seq=s + i,
                importance=float(1 + (s + i) % 10),
                sources=[f"e{s + i}"],
            )
            for i in range(m)
        ]
        await store.upsert(recs, vecs)
    return time.perf_counter() - t0


def encoder_throughput(encoder: MiniLMEncoder, n: int) -> None:
    texts = [f"Round {i}: {QUERIES[i % len(QUERIES)]} (variant {i})" for i in range(n)]
    encoder.encode_sync(texts[:8])  # load and warm up
    t0 = time.perf_counter()
    encoder.encode_sync(texts)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in texts:
        encoder.encode_sync([t])
    single = time.perf_counter() - t0
    print(f"encoder (MiniLM, 1 torch thread): {n} texts batched {n / batched:.0f}/s, one by one {n / single:.0f}/s")


async def per_turn(run_dir: Path | None, rounds: int) -> None:
    from sociallm.runtime.eventlog import read_events

    if run_dir is None:
        from sociallm.orchestration.run import Run
        from sociallm.runtime.scenario import load_scenario

        run_dir = Path(tempfile.mkdtemp()) / "run"
        t0 = time.perf_counter()
        await Run(load_scenario("bertrand-memory", {"rounds": rounds}), run_dir).execute()
        print(f"bertrand-memory, {rounds} rounds on the embedded model: {time.perf_counter() - t0:.1f} s ({run_dir})")
    events = read_events(run_dir / "events.jsonl").events
    turns = Counter(e.source for e in events if e.kind in ("message", "action"))
    mem = [e for e in events if e.kind == "memory"]
    calls = Counter(
        e.payload["purpose"] for e in events if e.kind == "llm_call" and e.payload["purpose"].startswith("memory")
    )
    adds = [e for e in mem if e.payload["op"] == "add"]
    n_turns = sum(turns.values())
    records = sum(len(e.payload["ids"]) for e in adds)
    nbytes = sum(e.payload["bytes"] for e in adds)
    reflections = [e for e in mem if e.payload["op"] == "reflection"]
    insights = sum(len(e.payload["ids"]) for e in reflections)
    print(f"agent turns {n_turns}; memory events {len(mem)} ({Counter(e.payload['op'] for e in mem)})")
    print(
        f"per agent turn: {records / n_turns:.2f} records added, {nbytes / n_turns:.0f} bytes (text+metadata), "
        f"{sum(calls.values()) / n_turns:.2f} memory model calls {dict(calls)}"
    )
    print(f"reflections {len(reflections)}, insights stored {insights}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--run", type=Path, default=None, help="measure an existing run folder instead")
    ap.add_argument("--no-run", action="store_true")
    args = ap.parse_args()
    encoder = MiniLMEncoder()
    encoder_throughput(encoder, args.texts)
    await retrieval([int(x) for x in args.sizes.split(",") if x], encoder, args.repeats)
    if not args.no_run:
        await per_turn(args.run, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
