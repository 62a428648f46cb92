"""The memory stream's storage: ChromaDB, embedded (default) or a server.

In a run: one collection for all agents, each record tagged with its `agent`, every read filtered on
it, and writes held back and sent once per round for everyone (`WriteBehind`). Chroma's fixed cost
per write call (a transaction and its fsync: 30–40 ms here against ~0.5 ms a record) made one
upsert and one update per agent turn most of a turn's own time, and a collection per agent most of
an idle agent's memory. What it trades: a `where` filter on one index instead of an index per agent
(Chroma filters before the nearest-neighbour search, so top-k is not starved), and the filter must
never be forgotten: every read here goes through `_where`. Records written this round are still
found: a query also scores the agent's held-back records exactly (they are few) and merges them in.

Outside a run (a store made by hand, a worker): one collection per agent, written at once, as before.

Chroma's client is synchronous: every call runs in a worker thread. Against a server (`url`),
connection failures are retried with exponential backoff; when the server stays down the section
raises `MemoryStoreError` naming the URL. The event log is written before memory is touched, so
nothing already logged is lost and the run can be resumed once the server is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sociallm.backbone.base import BackendError
from sociallm.memory.records import MemoryRecord

T = TypeVar("T")

MAX_BATCH = 5000  # Chroma refuses batches above its max_batch_size (5461 here)
_CLIENTS_LOCK = threading.Lock()


class MemoryStoreError(BackendError):
    """The vector store failed in a way retries did not fix."""


def collection_name(run: str, agent: str) -> str:
    """3–512 chars of [A-Za-z0-9._-], alphanumeric at both ends, unique per (run, agent)."""
    digest = hashlib.blake2b(f"{run}\0{agent}".encode(), digest_size=4).hexdigest()

    def slug(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-_")[:48]

    return "-".join(p for p in ("mem", slug(run), slug(agent), digest) if p)


def parse_url(url: str) -> tuple[str, int, bool]:
    m = re.fullmatch(r"(https?)://([^/:]+)(?::(\d+))?/?", url.strip())
    if not m:
        raise ValueError(f"memory url {url!r} is not http://host:port")
    ssl = m.group(1) == "https"
    return m.group(2), int(m.group(3) or (443 if ssl else 8000)), ssl


def make_client(path: Path | None = None, url: str | None = None) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        host, port, ssl = parse_url(url)
        return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
    assert path is not None
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


class WriteBehind:
    """Records and access marks of all agents, held back until the run's next checkpoint (`flush`)."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[MemoryRecord, np.ndarray]] = {}
        self.by_agent: dict[str, list[str]] = {}
        self.touches: dict[str, dict[str, Any]] = {}
        self.store: MemoryStore | None = None  # any store on the shared collection, to send with
        self.collections: dict[str, Any] = {}  # one handle per collection for all agents' stores
        self.flushes = 0

    async def before_checkpoint(self) -> None:
        await self.flush()

    async def flush(self) -> None:
        if self.store is None or (not self.records and not self.touches):
            return
        records = [r for r, _ in self.records.values()]
        vecs = np.stack([v for _, v in self.records.values()]) if records else np.zeros((0, 0))
        touches = dict(self.touches)
        self.records.clear()
        self.by_agent.clear()
        self.touches.clear()
        self.flushes += 1
        await self.store.write(records, vecs)
        if touches:
            ids = list(touches)
            metas = [touches[i] for i in ids]
            await self.store._call("update memories", lambda c: c.update(ids=ids, metadatas=metas))


class MemoryStore:
    """One agent's memory: its own collection, or its share of the run's (`agent`, `behind`)."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        name: str,
        *,
        where: str,
        retries: int = 0,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
        inline: bool = False,
        agent: str | None = None,
        behind: WriteBehind | None = None,
    ) -> None:
        self._factory = client_factory
        self.name = name
        self.where = where  # the URL or path, for error messages
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._collection: Any = None
        # An embedded store answers in well under a millisecond per small call: a hop to a worker thread
        # cost more than the call. A server's calls wait on the network and go to a thread.
        self.inline = inline
        self.retried = 0  # calls that needed more than one attempt
        self.agent = agent  # set: a shared collection, every read filtered on this agent
        self.behind = behind
        if behind is not None and behind.store is None:
            behind.store = self

    def _where(self, where: dict[str, Any] | None = None) -> dict[str, Any] | None:
        if self.agent is None:
            return where
        mine = {"agent": self.agent}
        return mine if where is None else {"$and": [mine, where]}

    def _col(self) -> Any:
        if self._collection is None:
            shared = self.behind.collections if self.behind is not None else {}
            col = shared.get(self.name)
            if col is None:
                client = self._factory()
                col = client.get_or_create_collection(
                    self.name, embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
                if self.behind is not None:
                    shared[self.name] = col
            self._collection = col
        return self._collection

    async def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        delay = self.backoff_s
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                if self.inline:
                    return fn(self._col())
                return await asyncio.to_thread(lambda: fn(self._col()))
            except Exception as exc:
                # Bad arguments cannot be fixed by retrying; but chromadb reports "Could not connect"
                # while making a client as a ValueError too, and that one is transient.
                if isinstance(exc, ValueError | TypeError) and "connect" not in str(exc).lower():
                    raise
                last = exc
                # A restarted server may have a fresh client session; rebuild the handle next time.
                self._collection = None
                if self.behind is not None:
                    self.behind.collections.pop(self.name, None)
                if attempt < self.retries:
                    self.retried += 1
                    await asyncio.sleep(delay)
                    delay = min(self.max_backoff_s, delay * 2)
        first_line = str(last).strip().splitlines()[0] if str(last).strip() else type(last).__name__
        raise MemoryStoreError(
            f"memory store {self.where} failed to {what} after {self.retries + 1} attempts "
            f"({type(last).__name__}: {first_line[:200]}); check that Chroma is up there, then resume the run"
        ) from last

    # -- operations ----------------------------------------------------------------------------
    async def upsert(self, records: list[MemoryRecord], embeddings: np.ndarray) -> None:
        if not records:
            return
        if self.agent is not None:
            for r in records:
                r.agent = self.agent
        if self.behind is not None:
            vecs = np.asarray(embeddings, dtype=np.float32)
            mine = self.behind.by_agent.setdefault(self.agent or "", [])
            for r, v in zip(records, vecs, strict=True):
                if r.id not in self.behind.records:
                    mine.append(r.id)
                self.behind.records[r.id] = (r, v)
                self.behind.touches.pop(r.id, None)  # the record as written carries its access
            return
        await self.write(records, embeddings)

    async def write(self, records: list[MemoryRecord], embeddings: np.ndarray) -> None:
        for start in range(0, len(records), MAX_BATCH):
            chunk = records[start : start + MAX_BATCH]
            vecs = embeddings[start : start + MAX_BATCH]
            await self._call(
                "add memories",
                lambda c, chunk=chunk, vecs=vecs: c.upsert(
                    ids=[r.id for r in chunk],
                    embeddings=np.asarray(vecs, dtype=np.float32),
                    documents=[r.text for r in chunk],
                    metadatas=[r.metadata() for r in chunk],
                ),
            )

    async def query(
        self, embedding: np.ndarray, k: int, fetch: int | None = None
    ) -> tuple[list[MemoryRecord], np.ndarray]:
        """Top-k by cosine similarity: (records, similarities), most similar first.

        Chroma's index is approximate and its graph depends on the order records were written and
        deleted (a resumed run deletes the discarded half round's records and writes them again), and
        identical texts tie. So `fetch` (default 4k) neighbours are asked for, by distance only (cheap),
        the k nearest are kept with ties going to the older memory, and only those are read: the same k
        in every run of a seed (exact while the collection holds at most `fetch` records)."""
        fetch = max(k, fetch if fetch is not None else 4 * k)
        q = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        where = self._where()
        res = await self._call(
            "query memories",
            lambda c: c.query(query_embeddings=q, n_results=fetch, include=["distances"], where=where),
        )
        ids = list(res["ids"][0]) if res["ids"] else []
        dist = dict(zip(ids, res["distances"][0], strict=True))
        held = self._held()
        if held:  # this round's records, not sent yet: their cosine distance, exactly
            vecs = np.stack([self.behind.records[i][1] for i in held]).astype(np.float64)  # type: ignore[union-attr]
            qv = q[0].astype(np.float64)
            norms = np.linalg.norm(vecs, axis=1) * (np.linalg.norm(qv) or 1.0)
            cos = (vecs @ qv) / np.where(norms > 0, norms, 1.0)
            for i, c in zip(held, cos, strict=True):
                dist[i] = float(1.0 - c)
            ids = list(dist)
        if not ids:
            return [], np.zeros(0)
        ranked = sorted(ids, key=lambda i: dist[i])
        cut = dist[ranked[min(k, len(ranked)) - 1]]
        wanted = [i for i in ranked if dist[i] <= cut]  # the k nearest and anything tied with the k-th
        records = await self.get(wanted)
        records.sort(key=lambda r: (dist[r.id], r.order, r.id))
        records = records[:k]
        # Chroma's cosine space returns distance = 1 − cosine similarity.
        return records, 1.0 - np.asarray([dist[r.id] for r in records], dtype=np.float64)

    def _held(self) -> list[str]:
        if self.behind is None:
            return []
        return self.behind.by_agent.get(self.agent or "", [])

    async def touch(
        self, ids: list[str], tick: int, seq: int, *, mark: int | None = None, records: list[MemoryRecord] = ()
    ) -> None:
        """Mark records accessed. With `mark` (the section's last checkpoint) and the records as read, the
        first access after that checkpoint keeps the access before it, for `undo_touches_after`."""
        if not ids:
            return
        known = {r.id: r for r in records}
        metas = []
        for i in ids:
            meta: dict[str, Any] = {"last_access_tick": tick, "last_access_seq": seq}
            r = known.get(i)
            if mark is not None and r is not None and r.touched_after != mark:
                meta.update(prev_access_tick=r.last_access_tick, prev_access_seq=r.last_access_seq, touched_after=mark)
            metas.append(meta)
        if self.behind is not None:
            for i, meta in zip(ids, metas, strict=True):
                held = self.behind.records.get(i)
                if held is not None:  # not written yet: the record itself carries the access
                    held[0].last_access_tick, held[0].last_access_seq = tick, seq
                    continue
                pending = self.behind.touches.get(i)
                self.behind.touches[i] = meta if pending is None else {**meta, **_prev(pending)}
            return
        await self._call("update memories", lambda c: c.update(ids=ids, metadatas=metas))

    async def undo_touches_after(self, mark: int) -> list[str]:
        """Give records accessed after checkpoint `mark` their access as of that checkpoint back."""
        where = self._where({"touched_after": mark})
        res = await self._call("find memories to restore", lambda c: c.get(where=where, include=["metadatas"]))
        ids, metas = [], []
        for i, m in zip(res["ids"], res["metadatas"], strict=True):
            if "prev_access_tick" in m:
                ids.append(i)
                metas.append(
                    {
                        "last_access_tick": int(m["prev_access_tick"]),
                        "last_access_seq": int(m["prev_access_seq"]),
                        "touched_after": -1,
                    }
                )
        if ids:
            await self._call("restore memories", lambda c: c.update(ids=ids, metadatas=metas))
        return ids

    async def get(self, ids: list[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        found: dict[str, MemoryRecord] = {}
        held = self.behind.records if self.behind is not None else {}
        ask = [i for i in ids if i not in held]
        for i in ids:
            if i in held:
                found[i] = held[i][0].model_copy()
        if ask:
            # No agent filter: record ids start with their agent's name, and a filter costs a metadata scan.
            res = await self._call("read memories", lambda c: c.get(ids=ask, include=["metadatas", "documents"]))
            touches = self.behind.touches if self.behind is not None else {}
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True):
                t = touches.get(i)
                found[i] = MemoryRecord.from_chroma(i, d, {**m, **t} if t else m)
        return [found[i] for i in ids if i in found]

    async def delete_after(self, seq: int) -> list[str]:
        """Delete records written after run seq `seq`; returns their ids."""
        dropped = []
        if self.behind is not None:
            for i in list(self._held()):
                if self.behind.records[i][0].created_seq > seq:
                    del self.behind.records[i]
                    self.behind.by_agent[self.agent or ""].remove(i)
                    dropped.append(i)
        where = self._where({"created_seq": {"$gt": seq}})
        res = await self._call("find memories to forget", lambda c: c.get(where=where, include=[]))
        ids = list(res["ids"])
        if ids:
            await self._call("forget memories", lambda c: c.delete(ids=ids))
        return dropped + ids

    async def count(self) -> int:
        held = len(self._held())
        if self.agent is None:
            return held + await self._call("count memories", lambda c: c.count())
        where = self._where()
        res = await self._call("count memories", lambda c: c.get(where=where, include=[]))
        return held + len(res["ids"])


def _prev(meta: dict[str, Any]) -> dict[str, Any]:
    """The access-before-the-checkpoint keys of a pending touch (the first touch after it keeps them)."""
    return {k: meta[k] for k in ("prev_access_tick", "prev_access_seq", "touched_after") if k in meta}


def shared_client(shared: dict[str, Any], path: Path | None, url: str | None) -> Callable[[], Any]:
    """A factory returning the run's one client for this path/URL, made on first use (in a worker thread)."""
    key = f"chroma:{url or path}"

    def factory() -> Any:
        with _CLIENTS_LOCK:
            client = shared.get(key)
            if client is None:
                client = make_client(path, url)
                shared[key] = client
            return client

    return factory
