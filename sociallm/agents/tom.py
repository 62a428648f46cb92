"""The theory-of-mind section: every agent's model of itself and of each interlocutor, as SSM states.

One `ToMHub` per run (in `ctx.shared["tom"]`) holds the shared `ToMModel` and one `StateBank` with
the states of all (observer, target) pairs of all agents. Each agent's section only reports what
its agent saw (`observe`: who said what, to whom); the first `prepare` of a turn encodes every
message seen since the last one with the run's shared sentence encoder and steps all the pairs
they touch in one batched call (each message steps every observer's state of its speaker and the
speaker's own self state, with the same weights). Then one `tom` event per message records the
surprise of each observer, the speaker's self–other overlap (tom_bank.py) and its duplicity: the
claim-level conflict between what it told different audiences (tom_claims.py).

Two views, never mixed. The `tom` events are the **analyst** view (run-wide: every observer's
messages; addressed to "@analyst", so no agent observes them); reports, the TUI and the overseer's
detector read them. What an **agent** reads in its prompt and what its `trust(name)` returns come
only from messages that agent observed: its own surprise at each speaker, and its own ledger of the
speaker's claims, where a conflict means the speaker told it (or a channel it is on) something that
conflicts with what it said to another audience it could hear ("Bob: surprising lately; told me
something that conflicts with what they said elsewhere"). A scenario can opt in to the run-wide
duplicity in prompts with `analyst_in_prompt: true` (e.g. a game where everyone is told it).

Options: `checkpoint` ("default": the small model shipped in the package, trained by
`python -m sociallm.agents.tom_train --make-default`; or a path from `sociallm tom train`);
`duplicity_threshold` (default: the checkpoint's, chosen on its validation split);
`analyst_in_prompt` (off: see the two views above).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.agents.tom_bank import StateBank, ToMModel
from sociallm.agents.tom_claims import ClaimLedger, pieces_for, wants_pieces
from sociallm.backbone.encoders import ENCODERS, Encoder, shared_encoder
from sociallm.runtime.events import Event

if TYPE_CHECKING:
    from sociallm.agents.agent import Turn

TOM_CHANNEL = "tom"
ANALYST = "@analyst"  # the audience of the run-wide read-outs: no agent is called that, so none sees them
DEFAULT_CHECKPOINT = Path(__file__).with_name("tom_default.pt")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(default="default", description="'default' (shipped) or a path from `sociallm tom train`.")
    encoder: str = Field(default="minilm", description="Sentence encoder name (shared with memory).")
    show: bool = Field(default=True, description="Render the note on others into the prompt.")
    smoothing: float = Field(default=0.5, gt=0.0, le=1.0, description="Weight of the newest surprise in its average.")
    # Surprise sits near 0.7 on held-out scripted runs and averages 0.87 in the round a hidden intent
    # changes. The duplicity threshold is the checkpoint's, chosen on its validation split.
    surprise_threshold: float = Field(default=0.8, ge=0.0, le=2.0, description="Average surprise called 'surprising'.")
    duplicity_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Claim conflict called a conflict (default: the checkpoint's, chosen on its validation split).",
    )
    analyst_in_prompt: bool = Field(
        default=False,
        description="Opt in: show the run-wide duplicity (from messages this agent did not see) in prompts.",
    )
    trust_weight: float = Field(
        default=0.5, ge=0.0, le=1.0, description="How much duplicity lowers trust(name) for the emotion section."
    )

    @field_validator("encoder")
    @classmethod
    def _known_encoder(cls, v: str) -> str:
        if v not in ENCODERS:
            raise ValueError(f"unknown encoder {v!r}; known: {', '.join(ENCODERS)}")
        return v


class CheckpointError(ValueError):
    """A ToM checkpoint that is missing or does not fit (one line naming the file and the fix)."""


def load_model(checkpoint: str | Path = "default") -> tuple[ToMModel, dict[str, Any]]:
    """The model of a checkpoint written by `tom_train.save_checkpoint`, and its metadata."""
    from sociallm.agents.tom_train import read_checkpoint  # training code imports this module

    path = DEFAULT_CHECKPOINT if str(checkpoint) == "default" else Path(checkpoint)
    return read_checkpoint(path)


class ToMHub:
    """The run's one model and state bank, fed by every agent's section."""

    def __init__(self, model: ToMModel, encoder: Encoder, config: Config, owner: str) -> None:
        self.model = model
        self.encoder = encoder
        self.config = config
        self.owner = owner  # the agent whose checkpoint state carries the bank
        self.bank = StateBank(model)
        self.ledger = ClaimLedger(model.claims)  # the analyst's: every message of the run
        self.locals: dict[str, ClaimLedger] = {}  # each agent's own: only what it observed
        # event id -> {"speaker", "text", "observers", "tick", "audience"}, in arrival order
        self.pending: dict[str, dict[str, Any]] = {}
        self.stepped: set[str] = set()  # event ids already stepped (late observers step alone)
        self.recent: dict[tuple[str, str], float] = {}  # (observer, target) -> smoothed surprise
        self.duplicity: dict[str, float] = {}  # analyst view, run-wide
        self.overlap: dict[str, float] = {}
        self.meta: dict[str, Any] = {}
        self.lock = asyncio.Lock()
        self.steps = 0  # batched calls

    def saw(self, event: Event, observer: str) -> None:
        key = event.id if event.id not in self.stepped else f"{event.id}:{observer}"
        item = self.pending.setdefault(
            key,
            {
                "event": event.id,
                "speaker": event.source,
                "text": event.text,
                "observers": [],
                "tick": event.tick,
                "audience": sorted(event.to) if event.to else [f"#{event.channel}"],
                "new": key == event.id,  # first sight of the message: it goes into the analyst's ledger
            },
        )
        if observer != event.source and observer not in item["observers"]:
            item["observers"].append(observer)

    async def flush(self, emit: Any) -> int:
        async with self.lock:
            if not self.pending:
                return 0
            items = list(self.pending.values())
            self.pending.clear()
            vecs = await self.encoder.encode([i["text"] for i in items])
            emb = torch.from_numpy(vecs)
            if emb.shape[1] != self.model.encoder_dim:
                raise CheckpointError(
                    f"sections.tom.checkpoint: the model takes {self.model.encoder_dim}-d vectors but encoder "
                    f"{self.encoder.name!r} gives {emb.shape[1]}-d; train a checkpoint on this encoder"
                )
            texts = [i["text"] for i in items]
            result = self.bank.step([(i["speaker"], i["observers"]) for i in items], emb, texts)
            self.steps += 1
            # Word pieces come from MiniLM itself (a model forward: a worker thread); other encoders have none.
            pieces = await asyncio.to_thread(pieces_for, self.encoder, texts) if wants_pieces(self.encoder) else None
            claims = self.model.claims.read(emb, pieces, texts, [i["audience"] for i in items])
            for n, item in enumerate(items):
                audience = frozenset(item["audience"])
                args = (item["speaker"], item["event"], audience, claims[n], int(item["tick"]))
                new = item.get("new", True)  # a late observer's copy: the speaker and analyst have it
                if new:
                    self.ledger.add(*args)
                for who in dict.fromkeys([item["speaker"], *item["observers"]] if new else item["observers"]):
                    self.local(who).add(*args)
            per = result.per_message(self.bank.names, len(items))
            a = self.config.smoothing
            for item, surprises in zip(items, per, strict=True):
                self.stepped.add(item["event"])
                speaker = item["speaker"]
                for obs, s in surprises.items():
                    old = self.recent.get((obs, speaker))
                    self.recent[(obs, speaker)] = s if old is None else (1 - a) * old + a * s
            # Read-outs only for the speakers of this step, once each (not every agent, every turn).
            for speaker in dict.fromkeys(i["speaker"] for i in items):
                dup, ovl = self.ledger.duplicity(speaker), self.bank.overlap(speaker)
                if dup is not None:
                    self.duplicity[speaker] = dup
                if ovl is not None:
                    self.overlap[speaker] = ovl
            events = []
            for item, surprises in zip(items, per, strict=True):
                speaker = item["speaker"]
                dup, ovl = self.duplicity.get(speaker), self.overlap.get(speaker)
                payload = {
                    "message": item["event"],
                    "speaker": speaker,
                    "surprise": {o: round(s, 4) for o, s in surprises.items() if o != speaker},
                    "self_surprise": None if speaker not in surprises else round(surprises[speaker], 4),
                    "duplicity": None if dup is None else round(dup, 4),
                    "overlap": None if ovl is None else round(ovl, 4),
                    "observers": item["observers"],
                }
                events.append(
                    Event(
                        kind="tom",
                        source=TOM_CHANNEL,
                        channel=TOM_CHANNEL,
                        to=[ANALYST],
                        tick=item["tick"],
                        payload=payload,
                    )
                )
            for ev in events:
                await emit(ev)
            return len(items)

    def local(self, agent: str) -> ClaimLedger:
        ledger = self.locals.get(agent)
        if ledger is None:
            # An agent remembers fewer of each speaker's claims than the analyst: every agent's ledger
            # goes into the checkpoint.
            ledger = self.locals[agent] = ClaimLedger(self.model.claims, keep=16)
        return ledger

    def state(self) -> dict[str, Any]:
        claims: dict[str, list[Any]] = {}  # each claim's vectors once, for all the ledgers below
        return {
            "bank": self.bank.state(),
            "pending": list(self.pending.items()),
            "stepped": sorted(self.stepped),
            "recent": [[o, t, s] for (o, t), s in self.recent.items()],
            "duplicity": dict(self.duplicity),
            "overlap": dict(self.overlap),
            "ledger": self.ledger.state(claims),
            "locals": {a: led.state(claims) for a, led in self.locals.items()},
            "claims": claims,  # filled by the two lines above: keep it after them
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.bank.load_state(state["bank"])
        self.pending = dict((k, dict(v)) for k, v in state.get("pending", []))
        self.stepped = set(state.get("stepped", []))
        self.recent = {(o, t): float(s) for o, t, s in state.get("recent", [])}
        self.duplicity = {k: float(v) for k, v in state.get("duplicity", {}).items()}
        self.overlap = {k: float(v) for k, v in state.get("overlap", {}).items()}
        claims = state.get("claims", {})
        self.ledger.load_state(state.get("ledger", {}), claims)
        self.locals = {}
        for agent, led in state.get("locals", {}).items():
            self.local(agent).load_state(led, claims)


class TheoryOfMind(BaseSection):
    name = "tom"

    def __init__(self, ctx: SectionContext, config: Config, hub: ToMHub) -> None:
        self.ctx = ctx
        self.config = config
        self.hub = hub
        self.me = ctx.agent.name

    def observe(self, event: Event) -> None:
        if event.kind == "message" and event.text and not event.payload.get("silent"):
            self.hub.saw(event, self.me)

    async def prepare(self, turn: Turn) -> None:
        await self.hub.flush(self.ctx.emit)

    async def after_act(self, event: Event) -> None:
        return None

    # -- what this agent reads: only from messages it observed ------------------------------------
    @property
    def threshold(self) -> float:
        t = self.config.duplicity_threshold
        return t if t is not None else float(self.hub.meta.get("duplicity_threshold", 0.3))

    def conflict(self, name: str) -> float | None:
        """How much `name` told this agent (or a channel it is on) things that conflict with what it said elsewhere."""
        if self.config.analyst_in_prompt:
            return self.hub.duplicity.get(name)
        return self.hub.local(self.me).duplicity(name)

    def trust(self, name: str) -> float:
        """1 for a speaker whose claims this agent saw agree, down to 1 − trust_weight for a conflicting one."""
        dup = self.conflict(name)
        if dup is None or name == self.me:
            return 1.0
        scaled = min(1.0, dup / (2 * self.threshold)) if self.threshold else 1.0
        return 1.0 - self.config.trust_weight * scaled

    def surprise(self, name: str) -> float | None:
        return self.hub.recent.get((self.me, name))

    def notes(self) -> list[str]:
        out = []
        seen = {t for (o, t) in self.hub.recent if o == self.me} | set(self.hub.local(self.me).speakers)
        for name in sorted(seen - {self.me}):
            parts = []
            s = self.surprise(name)
            if s is not None and s > self.config.surprise_threshold:
                parts.append("surprising lately")
            d = self.conflict(name)
            if d is not None and d > self.threshold:
                parts.append(
                    "says different things to different people"
                    if self.config.analyst_in_prompt
                    else "told me something that conflicts with what they said elsewhere"
                )
            if parts:
                out.append(f"{name}: {'; '.join(parts)}")
        return out

    def render(self, turn: Turn) -> str:
        if not self.config.show:
            return ""
        notes = self.notes()
        return f"{self.me}'s impressions: " + ". ".join(notes) + "." if notes else ""

    # -- checkpoints: the hub's owner carries the shared bank ------------------------------------
    def state(self) -> dict[str, Any]:
        return {"hub": self.hub.state()} if self.hub.owner == self.me else {}

    def load_state(self, state: dict[str, Any]) -> None:
        if "hub" in state:
            self.hub.load_state(state["hub"])


def shared_hub(ctx: SectionContext, config: Config) -> ToMHub:
    hub = ctx.shared.get("tom")
    if hub is None:
        model, meta = load_model(config.checkpoint)
        trained_on = meta.get("encoder", "minilm")
        if trained_on != config.encoder:
            raise CheckpointError(
                f"sections.tom.encoder: checkpoint {config.checkpoint!r} was trained on {trained_on!r} vectors, not "
                f"{config.encoder!r}; set encoder: {trained_on}, or train one with "
                f"`sociallm tom train --encoder {config.encoder}`"
            )
        hub = ctx.shared["tom"] = ToMHub(model, shared_encoder(ctx.shared, config.encoder), config, ctx.agent.name)
        hub.meta = meta
    elif hub.config.checkpoint != config.checkpoint or hub.config.encoder != config.encoder:
        raise CheckpointError(
            f"agents.{ctx.agent.name}.sections.tom: checkpoint and encoder are run-wide "
            f"({hub.config.checkpoint!r}, {hub.config.encoder!r}); set them under the scenario's sections.tom"
        )
    return hub


def build(ctx: SectionContext, config: Config) -> TheoryOfMind:
    return TheoryOfMind(ctx, config, shared_hub(ctx, config))
