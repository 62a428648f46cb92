"""The memory stream's storage: ChromaDB, embedded (default) or a server.

One collection per agent, not one shared collection with an `agent` field: every query and delete
is then scoped by construction (a `where` filter on a shared HNSW index is a post-filter that can
starve top-k when one agent has most of the records), private memories cannot leak through a
forgotten filter, and an agent's stream can be dropped or inspected alone.

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


class MemoryStore:
    """One agent's collection, with async, retried operations."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        name: str,
        *,
        where: str,
        retries: int = 0,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
    ) -> None:
        self._factory = client_factory
        self.name = name
        self.where = where  # the URL or path, for error messages
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._collection: Any = None
        self.retried = 0  # calls that needed more than one attempt

    def _col(self) -> Any:
        if self._collection is None:
            client = self._factory()
            self._collection = client.get_or_create_collection(
                self.name, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        return self._collection

    async def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        delay = self.backoff_s
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return await asyncio.to_thread(lambda: fn(self._col()))
            except Exception as exc:
                # Bad arguments cannot be fixed by retrying; but chromadb reports "Could not connect"
                # while making a client as a ValueError too, and that one is transient.
                if isinstance(exc, ValueError | TypeError) and "connect" not in str(exc).lower():
                    raise
                last = exc
                # A restarted server may have a fresh client session; rebuild the handle next time.
                self._collection = None
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
        res = await self._call(
            "query memories", lambda c: c.query(query_embeddings=q, n_results=fetch, include=["distances"])
        )
        ids = list(res["ids"][0]) if res["ids"] else []
        if not ids:
            return [], np.zeros(0)
        dist = dict(zip(ids, res["distances"][0], strict=True))
        ranked = sorted(ids, key=lambda i: dist[i])
        cut = dist[ranked[min(k, len(ranked)) - 1]]
        wanted = [i for i in ranked if dist[i] <= cut]  # the k nearest and anything tied with the k-th
        records = await self.get(wanted)
        records.sort(key=lambda r: (dist[r.id], r.order, r.id))
        records = records[:k]
        # Chroma's cosine space returns distance = 1 − cosine similarity.
        return records, 1.0 - np.asarray([dist[r.id] for r in records], dtype=np.float64)

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
        await self._call("update memories", lambda c: c.update(ids=ids, metadatas=metas))

    async def undo_touches_after(self, mark: int) -> list[str]:
        """Give records accessed after checkpoint `mark` their access as of that checkpoint back."""
        res = await self._call(
            "find memories to restore", lambda c: c.get(where={"touched_after": mark}, include=["metadatas"])
        )
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
        res = await self._call("read memories", lambda c: c.get(ids=ids, include=["metadatas", "documents"]))
        found = {
            i: MemoryRecord.from_chroma(i, d, m)
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        }
        return [found[i] for i in ids if i in found]

    async def delete_after(self, seq: int) -> list[str]:
        """Delete records written after run seq `seq`; returns their ids."""
        where = {"created_seq": {"$gt": seq}}
        res = await self._call("find memories to forget", lambda c: c.get(where=where, include=[]))
        ids = list(res["ids"])
        if ids:
            await self._call("forget memories", lambda c: c.delete(ids=ids))
        return ids

    async def count(self) -> int:
        return await self._call("count memories", lambda c: c.count())


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
