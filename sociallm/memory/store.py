"""The memory stream's storage: ChromaDB, embedded (default) or a server.

In a run: one collection for all agents holding each distinct line once, with every agent's record
of it as a metadata key (lines.py), writes held back and sent once per round for everyone
(`WriteBehind`), and reads answered exactly from an in-process mirror of the agent's own records
(vectors and metadata). Measured here: Chroma's fixed cost per write call (a transaction and its
fsync) is 30–40 ms against ~0.5 ms a record, so one upsert and
one update per agent turn were most of a turn's own time; and a query filtered on `agent` in one
shared collection took 8 ms at 32 agents and 110 ms at 256 (the filter scans the collection), while
an agent's own few hundred vectors are scored in microseconds. What it trades: an agent's stream
lives twice (in Chroma, the source of truth on resume, and in the mirror: ~1.6 kB a record), so a
stream too big for memory would need Chroma's index back.

Outside a run (a store made by hand, a worker): one collection per agent, written and read at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sociallm.backbone.base import BackendError
from sociallm.memory.lines import KEY, Index, blob, line_id
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
    """Records and access marks of all agents, held back until the run's next checkpoint (`flush`), and
    written as lines (lines.py): one Chroma record per distinct line, one metadata key per agent record."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[MemoryRecord, np.ndarray]] = {}
        # A touched record already in Chroma, and its access before the last checkpoint (if this is its first).
        self.touches: dict[str, tuple[MemoryRecord, dict[str, Any]]] = {}
        self.store: MemoryStore | None = None  # any store on the shared collection, to send with
        self.collections: dict[str, Any] = {}  # one handle per collection for all agents' stores
        self.flushes = 0
        self.line_of: dict[str, str] = {}  # record id -> its line, for records in Chroma
        self.known: set[str] = set()  # lines known to be in Chroma
        self.index: Index | None = None  # the collection as read after a resume; dropped by the next write
        self.lock = asyncio.Lock()

    async def before_checkpoint(self) -> None:
        await self.flush()

    async def flush(self) -> None:
        if self.store is None or (not self.records and not self.touches):
            return
        # Built before the first await: the mirror's records keep changing once the run goes on.
        metas: dict[str, dict[str, Any]] = {}
        first: dict[str, tuple[str, np.ndarray]] = {}
        for r, v in self.records.values():
            lid = line_id(r.text, v)
            self.line_of[r.id] = lid
            metas.setdefault(lid, {})[KEY + r.id] = blob(r)
            first.setdefault(lid, (r.text, v))
        for rid, (r, prev) in self.touches.items():
            metas.setdefault(self.line_of[rid], {})[KEY + rid] = blob(r, _prev(prev))
        self.records.clear()
        self.touches.clear()
        self.index = None
        self.flushes += 1
        await self.store.write_lines(metas, first)


class Mirror:
    """An agent's own records and their unit vectors, in memory: exact cosine top-k in microseconds."""

    def __init__(self) -> None:
        self.records: dict[str, MemoryRecord] = {}
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        # Rows grow in place (capacity doubles): re-stacking every vector after each turn's writes cost
        # O(records) per query.
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def add(self, record: MemoryRecord, vec: np.ndarray) -> None:
        v = np.asarray(vec, dtype=np.float32).reshape(-1)
        n = float(np.linalg.norm(v))
        v = v / n if n else v
        row = self._row.get(record.id)
        if row is None:  # not an upsert of a record already here
            row = self._row[record.id] = len(self._ids)
            self._ids.append(record.id)
            if row >= self._matrix.shape[0]:
                grown = np.zeros((max(16, 2 * row), v.shape[0]), dtype=np.float32)
                if row:
                    grown[:row] = self._matrix[:row]
                self._matrix = grown
        self._matrix[row] = v
        self.records[record.id] = record

    def query(self, q: np.ndarray, k: int) -> tuple[list[MemoryRecord], np.ndarray]:
        n = len(self._ids)
        if not n or k <= 0:
            return [], np.zeros(0)
        qn = float(np.linalg.norm(q))
        sim = self._matrix[:n] @ (q / qn if qn else q)
        # Cosine distance in float32, as Chroma reports it; ties go to the older memory, as in `query`.
        dist = (np.float32(1.0) - sim).astype(np.float32)
        # Only the k nearest and whatever ties with the k-th are sorted by the full key, not every record.
        cand = np.flatnonzero(dist <= np.partition(dist, k - 1)[k - 1]).tolist() if k < n else range(n)
        ids, recs = self._ids, self.records
        best = sorted(cand, key=lambda j: (float(dist[j]), recs[ids[j]].order, ids[j]))[:k]
        # The mirror's own records, not copies (copying ~40 candidates a turn was a tenth of a memory turn):
        # callers read them; what they keep they copy (Memory.retrieve keeps its top n).
        return [recs[ids[j]] for j in best], np.asarray([1.0 - float(dist[j]) for j in best])


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
        legacy: str | None = None,
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
        self.agent = agent  # set: a shared collection (lines), where this agent's records are its keys
        self.behind = behind
        self.legacy = legacy  # the run's collection before lines (lines.py): read once if this one is empty
        if behind is not None and behind.store is None:
            behind.store = self
        # In a run (write-behind): reads come from the agent's own records in memory (see the module).
        self.mirror: Mirror | None = Mirror() if behind is not None else None
        self._stale = False

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
        if self.behind is not None and self.mirror is not None:
            vecs = np.asarray(embeddings, dtype=np.float32)
            for r, v in zip(records, vecs, strict=True):
                r = r.model_copy(update={"agent": self.agent})  # the mirror's own copy
                self.mirror.add(r, v)
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

    async def write_lines(self, metas: dict[str, dict[str, Any]], first: dict[str, tuple[str, np.ndarray]]) -> None:
        """Lines not known to be in Chroma as upserts (an upsert merges keys into a line that is there after
        all, e.g. one written before a resume); records and accesses on known lines as key updates."""
        assert self.behind is not None
        known = self.behind.known
        new = [lid for lid in metas if lid not in known]
        old = [lid for lid in metas if lid in known]
        for start in range(0, len(new), MAX_BATCH):
            ids = new[start : start + MAX_BATCH]
            await self._call(
                "add memories",
                lambda c, ids=ids: c.upsert(
                    ids=ids,
                    embeddings=np.stack([first[i][1] for i in ids]).astype(np.float32),
                    documents=[first[i][0] for i in ids],
                    metadatas=[metas[i] for i in ids],
                ),
            )
            known.update(ids)
        for start in range(0, len(old), MAX_BATCH):
            ids = old[start : start + MAX_BATCH]
            await self._call("update memories", lambda c, ids=ids: c.update(ids=ids, metadatas=[metas[i] for i in ids]))

    async def _index(self) -> Index:
        assert self.behind is not None
        async with self.behind.lock:
            if self.behind.index is None:
                got = await self._call(
                    "read memories", lambda c: c.get(include=["metadatas", "documents", "embeddings"])
                )
                if not got["ids"] and self.legacy:
                    got = await self._migrate(self.legacy)
                self.behind.index = Index(got)
                self.behind.known.update(got["ids"])
            return self.behind.index

    async def _migrate(self, legacy: str) -> dict[str, Any]:
        """A run recorded before lines (a record per agent per line, in `legacy`) is resumed: its records
        are written as lines once, accesses and their pre-checkpoint marks kept; the old collection stays."""
        from chromadb.errors import NotFoundError

        def read() -> dict[str, Any] | None:
            try:
                old = self._factory().get_collection(legacy, embedding_function=None)
            except NotFoundError:
                return None
            return old.get(include=["metadatas", "documents", "embeddings"])

        got = read() if self.inline else await asyncio.to_thread(read)
        if got is None:
            return {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
        metas: dict[str, dict[str, Any]] = {}
        first: dict[str, tuple[str, np.ndarray]] = {}
        for rid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True):
            record = MemoryRecord.from_chroma(rid, doc, meta)
            v = np.asarray(vec, dtype=np.float32)
            lid = line_id(record.text, v)
            prev = {k: meta[k] for k in ("prev_access_tick", "prev_access_seq") if k in meta}
            metas.setdefault(lid, {})[KEY + rid] = blob(record, prev)
            first.setdefault(lid, (record.text, v))
        await self.write_lines(metas, first)
        return await self._call("read memories", lambda c: c.get(include=["metadatas", "documents", "embeddings"]))

    async def query(
        self, embedding: np.ndarray, k: int, fetch: int | None = None
    ) -> tuple[list[MemoryRecord], np.ndarray]:
        """Top-k by cosine similarity: (records, similarities), most similar first.

        Chroma's index is approximate and its graph depends on the order records were written and
        deleted (a resumed run deletes the discarded half round's records and writes them again), and
        identical texts tie. So `fetch` (default 4k) neighbours are asked for, by distance only (cheap),
        the k nearest are kept with ties going to the older memory, and only those are read: the same k
        in every run of a seed (exact while the collection holds at most `fetch` records). The mirror
        (in a run) is exact whatever the size, and gives its own records: read them, copy what you keep."""
        fetch = max(k, fetch if fetch is not None else 4 * k)
        q = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        if self.mirror is not None:
            await self.ready()
            return self.mirror.query(q[0], k)
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
        if self.mirror is not None:
            known = {i: r for i in ids if (r := self.mirror.records.get(i)) is not None}
        metas = []
        for i in ids:
            meta: dict[str, Any] = {"last_access_tick": tick, "last_access_seq": seq}
            r = known.get(i)
            if mark is not None and r is not None and r.touched_after != mark:
                meta.update(prev_access_tick=r.last_access_tick, prev_access_seq=r.last_access_seq, touched_after=mark)
            metas.append(meta)
        if self.mirror is not None and self.behind is not None:
            for i, meta in zip(ids, metas, strict=True):
                r = known.get(i)
                if r is None:
                    continue
                r.last_access_tick, r.last_access_seq = tick, seq
                if i in self.behind.records:
                    continue  # not written yet: the record itself carries its access
                if "touched_after" in meta:
                    r.touched_after = meta["touched_after"]
                pending = self.behind.touches.get(i)
                self.behind.touches[i] = (r, meta if pending is None else {**meta, **_prev(pending[1])})
            return
        await self._call("update memories", lambda c: c.update(ids=ids, metadatas=metas))

    async def undo_touches_after(self, mark: int) -> list[str]:
        """Give records accessed after checkpoint `mark` their access as of that checkpoint back."""
        if self.behind is not None:
            return await self._undo_lines(mark)
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
        self._stale = self.mirror is not None
        return ids

    async def _undo_lines(self, mark: int) -> list[str]:
        idx = await self._index()
        mine = idx.by_agent.get(self.agent or "", {})
        ids = sorted(
            (i for i, (_, m) in mine.items() if m.get("touched_after") == mark and "prev_access_tick" in m),
            key=lambda i: (int(mine[i][1].get("order", 0)), i),
        )
        updates: dict[str, dict[str, Any]] = {}
        for i in ids:
            lid, m = mine[i]
            m = {k: v for k, v in m.items() if k not in ("prev_access_tick", "prev_access_seq")}
            m.update(last_access_tick=int(mine[i][1]["prev_access_tick"]), touched_after=-1)
            m["last_access_seq"] = int(mine[i][1]["prev_access_seq"])
            mine[i] = (lid, m)
            updates.setdefault(lid, {})[KEY + i] = json.dumps(m, separators=(",", ":"))
        if updates:
            lids = list(updates)
            await self._call("restore memories", lambda c: c.update(ids=lids, metadatas=[updates[x] for x in lids]))
        self._stale = True
        return ids

    async def get(self, ids: list[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        if self.mirror is not None:
            await self.ready()
            return [self.mirror.records[i].model_copy() for i in ids if i in self.mirror.records]
        res = await self._call("read memories", lambda c: c.get(ids=ids, include=["metadatas", "documents"]))
        found = {
            i: MemoryRecord.from_chroma(i, d, m)
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        }
        return [found[i] for i in ids if i in found]

    async def delete_after(self, seq: int) -> list[str]:
        """Delete records written after run seq `seq`; returns their ids."""
        dropped = []
        if self.behind is not None and self.mirror is not None:
            for i, r in list(self.mirror.records.items()):
                if r.created_seq > seq and i in self.behind.records:
                    del self.behind.records[i]
                    dropped.append(i)
            return dropped + await self._forget_lines(seq)
        where = self._where({"created_seq": {"$gt": seq}})
        res = await self._call("find memories to forget", lambda c: c.get(where=where, include=[]))
        ids = list(res["ids"])
        if ids:
            await self._call("forget memories", lambda c: c.delete(ids=ids))
        self._stale = self.mirror is not None
        return dropped + ids

    async def _forget_lines(self, seq: int) -> list[str]:
        assert self.behind is not None
        idx = await self._index()
        mine = idx.by_agent.get(self.agent or "", {})
        gone = sorted(
            (i for i, (_, m) in mine.items() if int(m["created_seq"]) > seq),
            key=lambda i: (int(mine[i][1].get("order", 0)), i),
        )
        updates: dict[str, dict[str, Any]] = {}
        empty: list[str] = []
        for i in gone:
            lid, last = idx.drop(self.agent or "", i)
            self.behind.line_of.pop(i, None)
            updates.setdefault(lid, {})[KEY + i] = None  # Chroma's update drops a key set to None
            if last:
                empty.append(lid)
        keep = [lid for lid in updates if lid not in set(empty)]
        if keep:
            await self._call("forget memories", lambda c: c.update(ids=keep, metadatas=[updates[x] for x in keep]))
        if empty:
            await self._call("forget memories", lambda c: c.delete(ids=empty))
            self.behind.known.difference_update(empty)
        self._stale = True
        return gone

    async def load(self) -> None:
        """(Re)build the mirror from the collection (and what is still held back): after a resume."""
        if self.mirror is None:
            return
        self._stale = False
        if self.behind is not None:
            idx = await self._index()
            rows = []
            for r, v, lid in idx.records(self.agent or ""):
                self.behind.line_of[r.id] = lid
                rows.append((r, v))
            rows += [(r, v) for r, v in self.behind.records.values() if r.agent == self.agent]
            self._fill(rows)
            return
        where = self._where()
        res = await self._call(
            "read memories", lambda c: c.get(where=where, include=["metadatas", "documents", "embeddings"])
        )
        rows = [
            (MemoryRecord.from_chroma(i, d, m), np.asarray(e, dtype=np.float32))
            for i, d, m, e in zip(res["ids"], res["documents"], res["metadatas"], res["embeddings"], strict=True)
        ]
        self._fill(rows)

    def _fill(self, rows: list[tuple[MemoryRecord, np.ndarray]]) -> None:
        rows.sort(key=lambda x: (x[0].order, x[0].id))
        mirror = Mirror()
        for r, v in rows:
            mirror.add(r, v)
        self.mirror = mirror

    async def ready(self) -> None:
        """Rebuild the mirror when a resume's clean-up changed the collection under it."""
        if self._stale:
            await self.load()

    async def stored(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """This agent's records as Chroma holds them now: id -> (text, metadata). For checks and tools."""
        if self.behind is None:
            res = await self._call("read memories", lambda c: c.get(include=["metadatas", "documents"]))
            return {i: (d, m) for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)}
        res = await self._call("read memories", lambda c: c.get(include=["metadatas", "documents", "embeddings"]))
        idx = Index(res)
        return {i: (idx.texts[lid], m) for i, (lid, m) in idx.by_agent.get(self.agent or "", {}).items()}

    async def count(self) -> int:
        if self.mirror is not None:
            await self.ready()
            return len(self.mirror.records)
        return await self._call("count memories", lambda c: c.count())


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
