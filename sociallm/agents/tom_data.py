"""Data for the theory-of-mind model: who said what to whom, with the labels a log holds.

Each (observer, target) pair's messages, in order, are one sequence; the observer's own messages form
its self sequence (same weights). Sources: recorded runs (`read_run`), and scripted deception runs
made without a model (`synthetic_runs`) — on the village stories the scenario tells, or on
procedurally generated stories (`procedural_stories`), so that a model trained on the latter can be
evaluated on stories it never saw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sociallm.runtime.events import Event

PARTNER_NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]


@dataclass
class Message:
    speaker: str
    observers: list[str]
    text: str
    tick: int
    labels: tuple[float, float, float]  # valence, arousal, intent (NaN where unknown)


@dataclass
class RunData:
    name: str
    messages: list[Message] = field(default_factory=list)
    speaker: str | None = None  # the scripted speaker, where the log has the truth
    deceptive: bool | None = None
    change_round: int | None = None
    kind: str | None = None  # the contrast class of a generated run (tom_facts.py)
    # tick -> listener -> the value the speaker was briefed to tell them (the briefing scenario's record)
    told: dict[int, dict[str, str]] = field(default_factory=dict)

    def sequences(self) -> list[tuple[str, str, list[Message]]]:
        seqs: dict[tuple[str, str], list[Message]] = {}
        for m in self.messages:
            for o in [m.speaker, *m.observers]:
                seqs.setdefault((o, m.speaker), []).append(m)
        return [(o, t, ms) for (o, t), ms in seqs.items()]


NAN = float("nan")


def run_data(events: list[Event], name: str = "run") -> RunData:
    """Messages with who saw them and the labels known at that moment; truth from the deception log."""
    data = RunData(name)
    sources = {e.source for e in events if e.kind == "message"}
    participants = sorted(sources | {n for e in events if e.kind == "message" for n in e.to})
    affect: dict[str, tuple[float, float]] = {}
    intent: dict[tuple[str, int], float] = {}
    for e in events:  # the truth of a round is logged after its messages: read it first
        p = e.payload
        if e.kind == "system" and p.get("event") == "deception_truth":
            data.speaker = p.get("speaker", data.speaker)
            data.deceptive = bool(p.get("deceptive"))
            told = p.get("told")
            if isinstance(told, dict) and all(isinstance(v, str) for v in told.values()):
                data.told[e.tick] = {str(k): v for k, v in told.items()}
            if "intent" not in p:  # the briefing scenario's record has no hidden intent
                continue
            hostile = p.get("intent") == "hostile"
            intent[(data.speaker or "", e.tick)] = float(hostile)
            if hostile and data.change_round is None:
                data.change_round = e.tick
    for e in events:  # affect labels as known when the message was said
        if e.kind == "affect" and isinstance(e.payload.get("after"), dict):
            after = e.payload["after"]
            affect[e.source] = (float(after.get("valence", 0.0)), float(after.get("arousal", 0.5)))
            continue
        if e.kind != "message" or not e.text or e.payload.get("silent"):
            continue
        observers = [n for n in (e.to or participants) if n != e.source]
        v, a = affect.get(e.source, (NAN, NAN))
        data.messages.append(Message(e.source, observers, e.text, e.tick, (v, a, intent.get((e.source, e.tick), NAN))))
    return data


def read_run(run_dir: Path) -> RunData:
    from sociallm.runtime.eventlog import EVENTS_FILE, read_events

    log = read_events(Path(run_dir) / EVENTS_FILE)
    if not log.events:
        raise ValueError(f"{run_dir}: no readable events ({'; '.join(log.problems) or 'empty log'})")
    return run_data(log.events, Path(run_dir).name)


# Slots of the procedural stories: every version of a topic is about one thing, told differently
# (who did what with it, where, when), so only what is claimed tells versions apart.
_WHO = [
    "I",
    "my brother",
    "the miller",
    "the baker",
    "my neighbour",
    "the mayor",
    "the smith",
    "a stranger",
    "the priest",
    "my cousin",
    "the shepherd",
    "the tax collector",
    "the widow",
    "the innkeeper",
]
_DID = [
    "sold {thing} to {whom}",
    "lost {thing} near {place}",
    "hid {thing} behind {place}",
    "broke {thing}",
    "found {thing} by {place}",
    "burned {thing}",
    "stole {thing} from {whom}",
    "gave {thing} to {whom}",
    "bought {thing} at {place}",
    "buried {thing} under {place}",
    "lent {thing} to {whom}",
    "threw {thing} into {place}",
    "painted {thing} red",
    "fixed {thing} for {whom}",
    "forgot {thing} at {place}",
]
_THINGS = [
    "the cart",
    "the shared money",
    "the grain",
    "the silver cup",
    "the old map",
    "the goats",
    "the ledger",
    "the keys to the mill",
    "the bell rope",
    "the wine barrel",
    "the new plough",
    "the letters",
    "the mare",
    "the church candles",
    "the fishing boat",
    "the wedding ring",
    "the seed corn",
    "the ladder",
]
_WHOM = [
    "the miller",
    "a merchant",
    "my sister",
    "the soldiers",
    "the priest",
    "a traveller",
    "the mayor",
    "old Tom",
    "the twins",
    "the blacksmith",
]
_PLACES = [
    "the market",
    "the river",
    "the forest",
    "the chapel",
    "the tavern",
    "the north field",
    "the coast",
    "the mill",
    "the old well",
    "the crossroads",
    "the bridge",
    "the orchard",
]
_WHEN = [
    "on Monday",
    "last night",
    "before dawn",
    "at the fair",
    "during the storm",
    "yesterday",
    "at harvest",
    "on market day",
]


def procedural_stories(rng: random.Random, topics: int, versions: int = 3) -> dict[str, list[str]]:
    """`topics` random topics (one thing each), each with `versions` incompatible versions."""
    out: dict[str, list[str]] = {}
    for thing in rng.sample(_THINGS, topics):
        told: list[str] = []
        while len(told) < versions:
            did = rng.choice(_DID).format(thing=thing, whom=rng.choice(_WHOM), place=rng.choice(_PLACES))
            fact = f"{rng.choice(_WHO)} {did} {rng.choice(_WHEN)}"
            if fact not in told:
                told.append(fact)
        out[thing] = told
    return out


def synthetic_runs(seeds: range, rounds: int = 10, lie_rate: float = 0.75, procedural: bool = False) -> list[RunData]:
    """Scripted deception runs: half deceptive, a hidden intent change in half, 3-5 partners.

    On the scenario's village stories (deception.TOPICS), or with `procedural` on freshly generated
    stories per run — training data that shares no story with the scenario's.
    """
    from sociallm.environments.deception import scripted_events

    out = []
    for seed in seeds:
        rng = random.Random(seed)
        partners = rng.sample(PARTNER_NAMES, rng.randint(3, 5))
        change = rng.choice([0, rng.randint(4, rounds - 2)]) if rounds >= 6 else 0  # room before and after
        stories = procedural_stories(rng, min(rounds, len(_THINGS))) if procedural else None
        events = scripted_events(
            seed, partners, rounds, deceptive=seed % 2 == 0, change_round=change, lie_rate=lie_rate, stories=stories
        )
        out.append(run_data(events, f"synthetic-{seed}"))
    return out


class Embedder:
    """Texts -> unit vectors with an encoder (MiniLM unless given one), each distinct text once."""

    def __init__(self, encoder: Any | None = None) -> None:
        if encoder is None:
            from sociallm.backbone.encoders import MiniLMEncoder

            encoder = MiniLMEncoder()
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        todo = sorted({t for t in texts if t not in self.cache})
        if todo:
            if hasattr(self.encoder, "encode_sync"):
                vecs = self.encoder.encode_sync(todo)
            else:
                import asyncio

                vecs = asyncio.run(self.encoder.encode(todo))
            self.cache.update(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
        return torch.from_numpy(np.stack([self.cache[t] for t in texts])) if texts else torch.zeros(0)
