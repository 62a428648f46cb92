"""The memory section: a reflective memory stream (Generative Agents, Park et al. 2023) per agent.

- observe: every visible message, outcome and observation is queued as a memory (own messages as
  `own_message`); the last few visible lines are kept as the retrieval query.
- prepare (before each of the agent's turns): the queued memories are rated (one batched model call;
  with `share_ratings`, once per text for the whole run), embedded (one batched encoder call, one
  encode per distinct text run-wide) and stored (in a run: the agent's in-memory mirror at once, the
  run's one Chroma collection before the next checkpoint; see store.py); if the importance summed
  since the last reflection passes the threshold and `reflect_every` own turns have passed since the
  last one, the agent reflects; then memories are retrieved for the situation and rendered into the
  prompt.
- Every write, retrieval and reflection is one `memory` event (private to the agent), with ids, scores
  and citations.

Seeds of its model calls come from the scenario seed and the turn (round, phase, turn index), never
from a run seq (a resume's `resumed` marker shifts every later seq by one), and the importance
rater's cache, which decides which ratings are asked of the model at all, is part of the checkpoint:
a run resumed after kill -9 asks exactly what the same run played in one go asks.

Resume: `state()` records the highest run seq the section has seen. `load_state` schedules deletion of
records written after it (created_seq > that mark), which belong to the discarded half round that is
about to be replayed, and gives records retrieved in that half round their last access back; memories
queued but not yet written are in the state and written again (record ids are derived from event ids,
so a rewrite is an upsert, never a duplicate).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sociallm.agents.agent import derive_seed
from sociallm.agents.prompts import render_event
from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.backbone.base import GenerationRequest
from sociallm.backbone.encoders import ENCODERS, Encoder, shared_encoder
from sociallm.memory import reflection as refl
from sociallm.memory import scoring
from sociallm.memory.importance import ImportanceRater, salience, with_affect
from sociallm.memory.records import MemoryRecord, clean_text
from sociallm.memory.store import MemoryStore, WriteBehind, collection_name, parse_url, shared_client
from sociallm.memory.textcache import cached_encoder
from sociallm.runtime.events import Event, make_event
from sociallm.runtime.resources import AffectSource, Need

if TYPE_CHECKING:
    from sociallm.agents.agent import Turn

MEMORY_CHANNEL = "memory"
_REMEMBERED = frozenset({"message", "outcome", "observation"})


# Memories carry the agent's affect when the emotion section is on (checked when sections are built).
AFFECT = Need("section:emotion", AffectSource, optional=True, why="memories carry the affect they were felt with")
needs = [AFFECT]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None, description="Chroma server http://host:port; default: embedded store in RUN_DIR/memory/."
    )
    encoder: str = Field(
        default="minilm", description="Sentence encoder: 'minilm', or 'backbone' (the model's own embeddings)."
    )
    candidates: int = Field(
        default=50, ge=1, le=1000, description="Top-k by relevance re-scored (from the mirror in a run, else Chroma)."
    )
    top_n: int = Field(default=5, ge=1, le=50, description="Memories kept after re-scoring and shown.")
    w_recency: float = Field(default=1.0, ge=0.0)
    w_importance: float = Field(default=1.0, ge=0.0)
    w_relevance: float = Field(default=1.0, ge=0.0)
    decay: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="Recency factor per unit since last access. The paper's 0.995 is per game hour over "
        "days of simulated time; a market game has 5–50 rounds, where 0.995/round would make recency flat. "
        "0.9/round halves a memory's recency in ~6.6 rounds.",
    )
    decay_unit: Literal["tick", "event"] = Field(
        default="tick", description="'tick' = rounds since last access; 'event' = run events since then."
    )
    reflect_threshold: float = Field(
        default=100.0,
        ge=0.0,
        description="Reflect when importance summed since the last reflection reaches this (paper: 150; "
        "0 = never). An agent in a 2-firm game stores ~3 memories a round, so 100 means every ~6–8 rounds.",
    )
    reflect_every: int = Field(
        default=4,
        ge=0,
        le=1000,
        description="At most one reflection per this many own turns (0 = no limit). Importance is summed over "
        "everything an agent observes, which grows with the society; its own turns do not.",
    )
    reflection: Literal["chain", "one_call"] = Field(
        default="chain",
        description="'chain': questions, then a retrieval and an insight per question (1 + questions calls, "
        "the paper's way); 'one_call': questions and insights as one JSON list over the recent memories.",
    )
    share_ratings: bool = Field(
        default=False,
        description="true: rate each text once per run for all agents (the prompt then holds the text only, "
        "so a line a whole hamlet hears costs one call, not one per listener); false: each agent rates what "
        "it observes, its name in the prompt (the paper's way; calls grow with the audience).",
    )
    questions: int = Field(default=3, ge=1, le=5, description="Salient questions per reflection.")
    reflect_on: int = Field(default=15, ge=3, le=100, description="Most recent memories shown to find questions.")
    evidence: int = Field(default=5, ge=1, le=15, description="Memories retrieved per question for the insight.")
    rate: Literal["messages", "all", "none"] = Field(
        default="messages",
        description="Which memories the model rates: 'messages' (messages and outcomes; environment "
        "observations get the heuristic), 'all', or 'none' (heuristic only, no model calls).",
    )
    affect_gain: float = Field(default=3.0, ge=0.0, le=9.0, description="Importance added at full emotional salience.")
    query_lines: int = Field(default=4, ge=1, le=20, description="Recent visible lines that form the query.")
    show_reflections: int = Field(default=2, ge=0, le=10, description="Latest reflections rendered every turn.")
    max_chars: int = Field(default=1000, ge=50, le=20000, description="Longer memory texts are cut (recorded).")
    retries: int = Field(default=5, ge=0, le=20, description="Retries of a failed call to a Chroma server.")
    backoff_s: float = Field(default=0.25, gt=0.0, le=10.0, description="First retry delay; doubles, max 4 s.")
    show: bool = Field(default=True, description="Render memories into the prompt.")

    @field_validator("encoder")
    @classmethod
    def _known_encoder(cls, v: str) -> str:
        if v not in ENCODERS:
            raise ValueError(f"unknown encoder {v!r}; known: {', '.join(ENCODERS)}")
        return v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None:
            parse_url(v)
        return v


class Memory(BaseSection):
    name = "memory"

    def __init__(self, ctx: SectionContext, config: Config, encoder: Encoder, store: MemoryStore) -> None:
        self.ctx = ctx
        self.config = config
        self.me = ctx.agent.name
        self.encoder = encoder
        self.store = store
        self.rater = shared_rater(ctx) if config.share_ratings else ImportanceRater(ctx.llm, self.me, ctx.agent.model)
        # The rater's cache goes into this agent's checkpoint when it is its own or this agent owns it.
        self.owns_rater = not config.share_ratings or self.rater.agent == self.me
        self._private = ctx.scenario.index.private
        self.weights = scoring.Weights(config.w_recency, config.w_importance, config.w_relevance)
        self.seen_seq = 0
        self.pending: list[dict[str, Any]] = []
        self.lines: deque[str] = deque(maxlen=config.query_lines)
        self.recent: deque[list[str]] = deque(maxlen=config.reflect_on)  # [id, text] of the latest memories
        self.reflections: deque[list[str]] = deque(maxlen=max(1, config.show_reflections))
        self.importance_since = 0.0
        self.added = 0
        self.reflected = 0
        self.turns = 0  # own turns (prepare calls)
        self.reflected_at: int | None = None  # the own turn of the last reflection
        self.model_calls = 0
        self.retrieved: list[MemoryRecord] = []
        self.last_turn_calls = 0  # model requests the last prepare made (ratings + reflection)
        self._purge_after: int | None = None
        self._committed = 0  # seen_seq at the last state() call, i.e. the last checkpoint

    # -- perception (synchronous: queue only) -----------------------------------------------
    def observe(self, event: Event) -> None:
        self.seen_seq = max(self.seen_seq, event.seq)
        if event.kind not in _REMEMBERED or event.payload.get("silent"):
            return
        line = render_event(event, self.me, self._private)
        if not line:
            return
        self.lines.append(line)
        own = event.kind == "message" and event.source == self.me
        by_model = self.config.rate == "all" or (self.config.rate == "messages" and event.kind != "observation")
        self.pending.append(
            {
                "id": f"{self.me}:{event.id}",
                "text": line,
                "kind": "own_message" if own else "observation",
                "event": event.id,
                "seq": event.seq,
                "tick": event.tick,
                "model": by_model,
            }
        )

    def _affect(self) -> tuple[float | None, float | None]:
        emotion = self.ctx.uses(AFFECT)
        affect = emotion.affect if emotion is not None else None
        if not callable(affect):
            return None, None
        v, a = affect()
        return float(v), float(a)

    def _seed(self, *parts: Any) -> int:
        return derive_seed(self.ctx.scenario.seed, self.me, "memory", *parts)

    async def _emit(self, tick: int, payload: dict[str, Any]) -> None:
        await self.ctx.emit(
            make_event("memory", self.me, channel=MEMORY_CHANNEL, to=[self.me], tick=tick, payload=payload)
        )

    # -- writing -------------------------------------------------------------------------------
    async def _flush(self, turn: Turn) -> None:
        tick = turn.tick
        pending, self.pending = self.pending, []
        items: list[tuple[dict[str, Any], str, list[str]]] = []
        skipped = 0
        for p in pending:
            text, repairs = clean_text(p["text"], self.config.max_chars)
            if text:
                items.append((p, text, repairs))
            else:
                skipped += 1
        if not items:
            return
        ratings = await self.rater.rate(
            [t for _, t, _ in items],
            [p["model"] for p, _, _ in items],
            seed=self._seed("rate", tick, turn.phase.name, turn.turn_index),
            agent=self.me,
            model=self.ctx.agent.model,
        )
        asked = sum(r.source == "model" for r in ratings)  # this agent's requests (a shared rater serves many)
        self.model_calls += asked
        vecs = await self.encoder.encode([t for _, t, _ in items])
        valence, arousal = self._affect()
        records = []
        for (p, text, repairs), rating in zip(items, ratings, strict=True):
            imp = with_affect(rating.value, valence, arousal, self.config.affect_gain)
            source = rating.source + ("+affect" if salience(valence, arousal) > 0 and imp != rating.value else "")
            records.append(
                MemoryRecord(
                    id=p["id"],
                    text=text,
                    kind=p["kind"],
                    created_tick=p["tick"] or tick,
                    created_seq=self.seen_seq,
                    last_access_tick=p["tick"] or tick,
                    last_access_seq=p["seq"],
                    importance=imp,
                    importance_source=source,
                    valence=valence,
                    arousal=arousal,
                    sources=[p["event"]],
                    repairs=repairs + rating.repairs,
                    order=self.added + len(records),
                )
            )
        await self.store.upsert(records, vecs)
        self.added += len(records)
        self.importance_since += sum(r.importance for r in records)
        self.recent.extend([r.id, r.text] for r in records)
        payload: dict[str, Any] = {
            "op": "add",
            "ids": [r.id for r in records],
            "kinds": [r.kind for r in records],
            "importance": [round(r.importance, 2) for r in records],
            "importance_source": [r.importance_source for r in records],
            "model_calls": asked,
            "bytes": sum(record_bytes(r) for r in records),
            "importance_since_reflection": round(self.importance_since, 2),
        }
        if valence is not None:
            payload["affect"] = [round(valence, 3), round(arousal or 0.0, 3)]
        repairs = {r.id: r.repairs for r in records if r.repairs}
        if repairs:
            payload["repairs"] = repairs
        if skipped:
            payload["skipped_empty"] = skipped
        await self._emit(tick, payload)

    # -- retrieval -----------------------------------------------------------------------------
    async def retrieve(
        self, query_vec: np.ndarray, n: int, tick: int
    ) -> tuple[list[MemoryRecord], np.ndarray, dict[str, np.ndarray]]:
        """Top-n by the combined score among Chroma's top-k by relevance; marks them accessed."""
        fetch = min(max(self.added, 1), 4 * self.config.candidates)
        records, relevance = await self.store.query(query_vec, min(self.config.candidates, fetch), fetch)
        if not records:
            return [], np.zeros(0), {}
        if self.config.decay_unit == "tick":
            now, last = float(tick), np.array([r.last_access_tick for r in records], dtype=np.float64)
        else:
            now, last = float(self.seen_seq), np.array([r.last_access_seq for r in records], dtype=np.float64)
        rec = scoring.recency(now, last, self.config.decay)
        imp = np.array([r.importance for r in records], dtype=np.float64)
        total = scoring.scores(rec, imp, relevance, self.weights)
        best = scoring.top_n(total, n)
        chosen = [records[i].model_copy() for i in best]  # a snapshot: the store's may be its live records
        await self.store.touch([r.id for r in chosen], tick, self.seen_seq, mark=self._committed, records=chosen)
        parts = {"recency": rec[best], "importance": imp[best], "relevance": relevance[best]}
        return chosen, total[best], parts

    async def _retrieve_for_turn(self, tick: int) -> None:
        query = "\n".join(self.lines)
        if not query or self.added == 0:
            self.retrieved = []
            return
        (qvec,) = await self.encoder.encode([query])
        chosen, total, parts = await self.retrieve(qvec, self.config.top_n, tick)
        self.retrieved = chosen
        await self._emit(
            tick,
            {
                "op": "retrieve",
                "query": query[-300:],
                "ids": [r.id for r in chosen],
                "scores": [round(float(s), 4) for s in total],
                "relevance": [round(float(s), 4) for s in parts.get("relevance", [])],
                "recency": [round(float(s), 4) for s in parts.get("recency", [])],
                "importance": [round(float(s), 2) for s in parts.get("importance", [])],
            },
        )

    # -- reflection ----------------------------------------------------------------------------
    def _rival(self) -> list[str]:
        names = self.ctx.scenario.index.names
        return [next((n for n in names if n != self.me), "")] if len(names) > 1 else []

    async def reflect(self, tick: int) -> None:
        if self.config.reflection == "one_call":
            await self._reflect_once(tick)
            return
        recent = list(self.recent)
        repairs: list[str] = []
        n = self.config.questions
        qreq = GenerationRequest(
            prompt=refl.questions_prompt(self.me, [t for _, t in recent]),
            max_tokens=24 * n,
            temperature=0.7,
            seed=self._seed("questions", self.reflected),
            stop=["\n\n", f"{n + 1}."],
            model=self.ctx.agent.model,
            agent=self.me,
            purpose=refl.QUESTIONS_PURPOSE,
        )
        self.model_calls += 1
        try:
            (qres,) = await self.ctx.llm.generate([qreq])
            qtext = qres.text
        except Exception as exc:
            qtext = ""
            repairs.append(f"question call failed ({type(exc).__name__})")
        questions, qrepairs = refl.parse_questions(qtext, n, self.me, self._rival())
        repairs += qrepairs
        qvecs = await self.encoder.encode(questions)
        evidence: list[list[MemoryRecord]] = []
        for qv in qvecs:
            chosen, _, _ = await self.retrieve(qv, self.config.evidence, tick)
            evidence.append(chosen)
        reqs = [
            GenerationRequest(
                prompt=refl.insight_prompt(self.me, q, [r.text for r in ev]),
                max_tokens=60,
                temperature=0.7,
                seed=self._seed("insight", self.reflected, i),
                stop=["\n"],
                constraint=refl.INSIGHT_SCHEMA,
                model=self.ctx.agent.model,
                agent=self.me,
                purpose=refl.INSIGHT_PURPOSE,
            )
            for i, (q, ev) in enumerate(zip(questions, evidence, strict=True))
            if ev
        ]
        self.model_calls += len(reqs)
        try:
            results = await self.ctx.llm.generate(reqs) if reqs else []
        except Exception as exc:
            results = []
            repairs.append(f"insight call failed ({type(exc).__name__}); no insights this time")
        usable = [(q, ev) for q, ev in zip(questions, evidence, strict=True) if ev]
        found: list[tuple[str, refl.Insight | None, dict[str, MemoryRecord]]] = []
        for (q, ev), res in zip(usable, results, strict=True):
            found.append((q, refl.parse_insight(res.text, [r.id for r in ev]), {r.id: r for r in ev}))
        await self._keep_insights(tick, found, repairs, {"questions": questions})

    async def _reflect_once(self, tick: int) -> None:
        """Questions and insights in one constrained call over the recent memories (Config.reflection)."""
        recent = list(self.recent)
        ids = [i for i, _ in recent]
        n = self.config.questions
        repairs: list[str] = []
        req = GenerationRequest(
            prompt=refl.reflection_prompt(self.me, [t for _, t in recent]),
            max_tokens=70 * n,
            temperature=0.7,
            seed=self._seed("reflection", self.reflected),
            stop=["\n\n"],
            constraint=refl.reflection_schema(n),
            model=self.ctx.agent.model,
            agent=self.me,
            purpose=refl.REFLECTION_PURPOSE,
        )
        self.model_calls += 1
        try:
            (res,) = await self.ctx.llm.generate([req])
            text = res.text
        except Exception as exc:
            text = ""
            repairs.append(f"reflection call failed ({type(exc).__name__}); no insights this time")
        pairs, prepairs = refl.parse_reflections(text, ids, n) if text else ([], [])
        repairs += prepairs
        cited_ids = sorted({c for _, ins in pairs if ins is not None for c in ins.cites})
        known = {r.id: r for r in await self.store.get(cited_ids)} if cited_ids else {}
        found = [(q, ins, known) for q, ins in pairs]
        await self._keep_insights(tick, found, repairs, {"calls": 1, "questions": [q for q, _ in pairs]})

    async def _keep_insights(
        self,
        tick: int,
        found: list[tuple[str, refl.Insight | None, dict[str, MemoryRecord]]],
        repairs: list[str],
        payload: dict[str, Any],
    ) -> None:
        """Store each (question, insight, the memories it could cite) as a reflection and log the reflection.

        Both reflection styles end here, so what is stored, dropped and logged is the same for both.
        """
        insights: list[dict[str, Any]] = []
        records: list[MemoryRecord] = []
        for q, ins, citable in found:
            if ins is None:
                repairs.append(f"no insight text for {q!r}")
                continue
            entry: dict[str, Any] = {"question": q, "text": ins.text, "cites": [c for c in ins.cites if c in citable]}
            if ins.dropped:
                entry["dropped_citations"] = ins.dropped
            if ins.repairs:
                entry["repairs"] = ins.repairs
            cited = [citable[c] for c in entry["cites"]]
            if not cited:
                entry["stored"] = False
                repairs.append(f"insight {ins.text[:40]!r} cites no listed memory, not stored")
                insights.append(entry)
                continue
            rid = f"{self.me}:reflection:{self.reflected}:{len(records)}"
            records.append(
                MemoryRecord(
                    id=rid,
                    text=f"{self.me} thinks: {ins.text}",
                    kind="reflection",
                    created_tick=tick,
                    created_seq=self.seen_seq,
                    last_access_tick=tick,
                    last_access_seq=self.seen_seq,
                    # No extra model call: a reflection matters as much as the evidence it rests on.
                    importance=float(np.mean([r.importance for r in cited])),
                    importance_source="cited",
                    cites=entry["cites"],
                    repairs=ins.repairs,
                    order=self.added + len(records),
                )
            )
            entry["id"] = rid
            insights.append(entry)
        if records:
            vecs = await self.encoder.encode([r.text for r in records])
            await self.store.upsert(records, vecs)
            self.added += len(records)
            self.recent.extend([r.id, r.text] for r in records)
            self.reflections.extend([r.id, r.text] for r in records)
        before = self.importance_since
        self.importance_since = 0.0
        self.reflected += 1
        await self._emit(
            tick,
            {
                "op": "reflection",
                "n": self.reflected,
                "importance_since": round(before, 2),
                "threshold": self.config.reflect_threshold,
                **payload,
                "insights": insights,
                "ids": [r.id for r in records],
                **({"repairs": repairs} if repairs else {}),
            },
        )

    # -- the turn ------------------------------------------------------------------------------
    async def prepare(self, turn: Turn) -> None:
        tick = turn.tick
        if self._purge_after is not None:
            mark, self._purge_after = self._purge_after, None
            forgotten = await self.store.delete_after(mark)
            await self.store.undo_touches_after(mark)  # retrievals of the discarded half round
            if forgotten:
                await self._emit(tick, {"op": "forget", "ids": forgotten, "after_seq": mark, "why": "resume"})
        calls = self.model_calls
        self.turns += 1
        await self._flush(turn)
        every = self.config.reflect_every
        rested = self.reflected_at is None or every == 0 or self.turns - self.reflected_at >= every
        if rested and refl.should_reflect(self.importance_since, self.config.reflect_threshold):
            self.reflected_at = self.turns
            await self.reflect(tick)
        if self.config.show:
            await self._retrieve_for_turn(tick)
        self.last_turn_calls = self.model_calls - calls

    def render(self, turn: Turn) -> str:
        if not self.config.show:
            return ""
        parts = []
        shown = {r.id for r in self.retrieved}
        refs = [t for i, t in self.reflections if i not in shown][-self.config.show_reflections :]
        if self.config.show_reflections and refs:
            parts.append(f"{self.me}'s conclusions so far:\n" + "\n".join(f"- {t}" for t in refs))
        # Lines still in the recent transcript are already in the prompt: showing them twice wastes tokens.
        recent = set(self.lines)
        older = [r for r in self.retrieved if r.text not in recent]
        if older:
            parts.append(f"{self.me} remembers:\n" + "\n".join(f"- {r.text}" for r in older))
        return "\n".join(parts)

    # -- checkpoints -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        self._committed = self.seen_seq  # state() is taken for a checkpoint: accesses from here on can be undone
        return {
            "seen_seq": self.seen_seq,
            "importance_since": self.importance_since,
            "added": self.added,
            "reflected": self.reflected,
            "turns": self.turns,
            "reflected_at": self.reflected_at,
            "model_calls": self.model_calls,
            "pending": [dict(p) for p in self.pending],
            "lines": list(self.lines),
            "recent": [list(x) for x in self.recent],
            "reflections": [list(x) for x in self.reflections],
            "collection": self.store.name,
            **({"rating_cache": self.rater.cache_state()} if self.owns_rater else {}),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.seen_seq = int(state.get("seen_seq", 0))
        self.importance_since = float(state.get("importance_since", 0.0))
        self.added = int(state.get("added", 0))
        self.reflected = int(state.get("reflected", 0))
        self.turns = int(state.get("turns", 0))
        at = state.get("reflected_at")
        self.reflected_at = None if at is None else int(at)
        self.model_calls = int(state.get("model_calls", 0))
        self.pending = [dict(p) for p in state.get("pending", [])]
        self.lines.clear()
        self.lines.extend(state.get("lines", []))
        self.recent.clear()
        self.recent.extend(list(x) for x in state.get("recent", []))
        self.reflections.clear()
        self.reflections.extend(list(x) for x in state.get("reflections", []))
        if self.owns_rater and "rating_cache" in state:
            self.rater.load_cache_state(state["rating_cache"])
        # Chroma is not touched here (sync, maybe remote): the first prepare forgets the replayed half round.
        self._purge_after = self.seen_seq
        self._committed = self.seen_seq


def shared_rater(ctx: SectionContext) -> ImportanceRater:
    """The run's one importance rater (see ImportanceRater); the first agent to ask for it owns its cache
    in checkpoints, as the theory-of-mind hub's owner carries the shared bank."""
    rater = ctx.shared.get("memory_rater")
    if rater is None:
        rater = ctx.shared["memory_rater"] = ImportanceRater(
            ctx.llm, ctx.agent.name, ctx.agent.model, cache_size=16384, shared=True
        )
    return rater


def build(ctx: SectionContext, config: Config) -> Memory:
    encoder = cached_encoder(ctx.shared, shared_encoder(ctx.shared, config.encoder))
    path = None if config.url else ctx.run_dir / "memory"
    # In a run (which flushes before each checkpoint): one collection for everyone, writes held back per
    # round (store.py). Elsewhere (a worker, a hand-made context): a collection per agent, written at once.
    hooks = ctx.shared.get("before_checkpoint")
    behind: WriteBehind | None = None
    if isinstance(hooks, list):
        behind = ctx.shared.get("memory_behind")
        if behind is None:
            behind = ctx.shared["memory_behind"] = WriteBehind()
            hooks.append(behind.before_checkpoint)
    store = MemoryStore(
        shared_client(ctx.shared, path, config.url),
        collection_name(ctx.run_dir.name, "lines" if behind is not None else ctx.agent.name),
        where=config.url or str(path),
        retries=config.retries if config.url else 0,
        backoff_s=config.backoff_s,
        inline=config.url is None,
        agent=ctx.agent.name if behind is not None else None,
        behind=behind,
        legacy=collection_name(ctx.run_dir.name, "memory") if behind is not None else None,
    )
    return Memory(ctx, config, encoder, store)


_FIXED_WIDTH = ("created_wall", "created_seq", "last_access_seq", "order")


def record_bytes(record: Any) -> int:
    """Stored size of a record; the wall-clock stamp and the run seqs count as 8 bytes each (a float, an
    int), so a replay's figure matches the recording's, and a resumed run's (its seqs are shifted by the
    `resumed` marker) matches a run played in one go."""
    meta = {k: v for k, v in record.metadata().items() if k not in _FIXED_WIDTH}
    return len(record.text.encode()) + len(str(meta)) + 8 * len(_FIXED_WIDTH)
