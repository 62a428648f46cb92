"""The theory-of-mind section: every agent's model of itself and of each interlocutor, as SSM states.

One `ToMHub` per run (in `ctx.shared["tom"]`) holds the shared `ToMModel` and one `StateBank` with
the states of all (observer, target) pairs of all agents. Each agent's section only reports what
its agent saw (`observe`: who said what, to whom); the first `prepare` of a turn encodes every
message seen since the last one with the run's shared sentence encoder and steps all the pairs
they touch in one batched call (each message steps every observer's state of its speaker and the
speaker's own self state, with the same weights). Then one `tom` event per message records the
surprise of each observer, and the speaker's duplicity and self–other overlap (both compare the
`belief` read-outs of the states: see tom_bank.py).

The agent's prompt gets a short note on the others ("Bob: surprising lately; says different things
to different people"), and `trust(name)` in [0, 1] lets the emotion section discount a speaker
whose observers hold incompatible views of it.

Options: `checkpoint` ("default": the small model shipped in the package, trained by
`python -m sociallm.agents.tom_train --make-default`; or a path from `sociallm tom train`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.agents.tom_bank import StateBank, ToMModel
from sociallm.backbone.encoders import ENCODERS, Encoder, shared_encoder
from sociallm.runtime.events import Event

if TYPE_CHECKING:
    from sociallm.agents.agent import Turn

TOM_CHANNEL = "tom"
DEFAULT_CHECKPOINT = Path(__file__).with_name("tom_default.pt")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(default="default", description="'default' (shipped) or a path from `sociallm tom train`.")
    encoder: str = Field(default="minilm", description="Sentence encoder name (shared with memory).")
    show: bool = Field(default=True, description="Render the note on others into the prompt.")
    smoothing: float = Field(default=0.5, gt=0.0, le=1.0, description="Weight of the newest surprise in its average.")
    # Defaults from the shipped model on 100 held-out scripted runs: at the end of a run, control
    # speakers' duplicity stays below 0.12 (median 0.07), deceptive ones' median is 0.23; surprise
    # sits near 0.7 and averages 0.87 in the round a hidden intent changes.
    surprise_threshold: float = Field(default=0.8, ge=0.0, le=2.0, description="Average surprise called 'surprising'.")
    duplicity_threshold: float = Field(
        default=0.12, ge=0.0, le=2.0, description="Duplicity called 'says different things to different people'."
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
        # event id -> {"speaker", "text", "observers", "tick"}, in arrival order
        self.pending: dict[str, dict[str, Any]] = {}
        self.stepped: set[str] = set()  # event ids already stepped (late observers step alone)
        self.recent: dict[tuple[str, str], float] = {}  # (observer, target) -> smoothed surprise
        self.duplicity: dict[str, float] = {}
        self.overlap: dict[str, float] = {}
        self.lock = asyncio.Lock()
        self.steps = 0  # batched calls

    def saw(self, event: Event, observer: str) -> None:
        key = event.id if event.id not in self.stepped else f"{event.id}:{observer}"
        item = self.pending.setdefault(
            key, {"event": event.id, "speaker": event.source, "text": event.text, "observers": [], "tick": event.tick}
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
            result = self.bank.step([(i["speaker"], i["observers"]) for i in items], emb, [i["text"] for i in items])
            self.steps += 1
            per = result.per_message(self.bank.names, len(items))
            a = self.config.smoothing
            for item, surprises in zip(items, per, strict=True):
                self.stepped.add(item["event"])
                speaker = item["speaker"]
                for obs, s in surprises.items():
                    old = self.recent.get((obs, speaker))
                    self.recent[(obs, speaker)] = s if old is None else (1 - a) * old + a * s
            events = []
            for item, surprises in zip(items, per, strict=True):
                speaker = item["speaker"]
                dup, ovl = self.bank.duplicity(speaker), self.bank.overlap(speaker)
                if dup is not None:
                    self.duplicity[speaker] = dup
                if ovl is not None:
                    self.overlap[speaker] = ovl
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
                        source=speaker,
                        channel=TOM_CHANNEL,
                        to=[speaker],
                        tick=item["tick"],
                        payload=payload,
                    )
                )
            for ev in events:
                await emit(ev)
            return len(items)

    def state(self) -> dict[str, Any]:
        return {
            "bank": self.bank.state(),
            "pending": list(self.pending.items()),
            "stepped": sorted(self.stepped),
            "recent": [[o, t, s] for (o, t), s in self.recent.items()],
            "duplicity": dict(self.duplicity),
            "overlap": dict(self.overlap),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.bank.load_state(state["bank"])
        self.pending = dict((k, dict(v)) for k, v in state.get("pending", []))
        self.stepped = set(state.get("stepped", []))
        self.recent = {(o, t): float(s) for o, t, s in state.get("recent", [])}
        self.duplicity = {k: float(v) for k, v in state.get("duplicity", {}).items()}
        self.overlap = {k: float(v) for k, v in state.get("overlap", {}).items()}


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

    # -- what others read ----------------------------------------------------------------------
    def trust(self, name: str) -> float:
        """1 for a speaker whose observers agree about it, down to 1 − trust_weight for a duplicitous one."""
        dup = self.hub.duplicity.get(name)
        if dup is None or name == self.me:
            return 1.0
        scaled = min(1.0, dup / (2 * self.config.duplicity_threshold)) if self.config.duplicity_threshold else 1.0
        return 1.0 - self.config.trust_weight * scaled

    def surprise(self, name: str) -> float | None:
        return self.hub.recent.get((self.me, name))

    def notes(self) -> list[str]:
        out = []
        for name in self.hub.bank.names:
            if name == self.me or self.hub.bank.row(self.me, name) is None:
                continue
            parts = []
            s = self.surprise(name)
            if s is not None and s > self.config.surprise_threshold:
                parts.append("surprising lately")
            d = self.hub.duplicity.get(name)
            if d is not None and d > self.config.duplicity_threshold:
                parts.append("says different things to different people")
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
    elif hub.config.checkpoint != config.checkpoint or hub.config.encoder != config.encoder:
        raise CheckpointError(
            f"agents.{ctx.agent.name}.sections.tom: checkpoint and encoder are run-wide "
            f"({hub.config.checkpoint!r}, {hub.config.encoder!r}); set them under the scenario's sections.tom"
        )
    return hub


def build(ctx: SectionContext, config: Config) -> TheoryOfMind:
    return TheoryOfMind(ctx, config, shared_hub(ctx, config))
