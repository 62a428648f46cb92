"""Hand-written held-out sets for duplicity: natural chat lines, never used to train or to choose a threshold.

The contrast sets of tom_facts.py are generated from templates; a read-out can do well on them by
learning the templates. Here every line was written by hand (data/wild_scenes.json) in the way
people chat at work, at home, in a club or a lab: new names, topics and wording, none of them from
environments/facts.py (tests/agents/test_tom_wild.py checks it). Each scene is one fact with

- `honest`: five ways of telling it (formal, casual, terse, chatty with greeting and sign-off,
  reordered, other verbs and units: "costs 18 dollars a kilo" / "eighteen bucks a kilo");
- `frame` and `values`: one sentence with the value left open; `values[0]` is true, the others
  conflict with it. Filled with different values it is a conflict in near-identical wording;
- `lies`: conflicting versions (value, line) in their own wording;
- `asides`: true facts on other topics in the same setting, some about the same thing (another
  attribute of it: a topic shift, not a conflict).

`wild_runs` builds runs of the classes of tom_facts.py (same Message shape as `tom_facts.make_run`:
the speaker tells each listener privately, all in the same tick), 1-3 rounds each, one scene a
round. Only the evaluation reads these runs (the "hand-written" blocks of `sociallm tom eval --facts`).

Five sets (`SCENE_FILES`): "a" (data/wild_scenes.json, 54 scenes) was read to find what the claim
read-out got wrong on natural text, which led to the typed-value rules of tom_slots.py, so it is a
development set now; "b" (data/wild_scenes_b.json, 57 scenes in 17 other settings) was written
afterwards by someone who saw no read-out code and no figure, and was not read while building; "c"
(data/wild_scenes_c.json, 57 scenes in 17 settings new to both) was written the same way, later;
"d" (data/wild_scenes_d.json, 59 scenes in 17 settings new to A, B and C) the same way, scored
blind once, then read to build the frame, clause and spelling rules of tom_claims.py (a development
set since); "e" (data/wild_scenes_e.json, 58 scenes in 15 settings new to all four) was written the
same way while those rules were built, and scored once after them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sociallm.agents.tom_data import NAN, Message, RunData
from sociallm.agents.tom_facts import CLASSES, DECEPTIVE

SCENES_FILE = Path(__file__).with_name("data") / "wild_scenes.json"
SCENE_FILES = {
    "a": SCENES_FILE,
    "b": SCENES_FILE.with_name("wild_scenes_b.json"),
    "c": SCENES_FILE.with_name("wild_scenes_c.json"),
    "d": SCENES_FILE.with_name("wild_scenes_d.json"),
    "e": SCENES_FILE.with_name("wild_scenes_e.json"),
}

# People of these runs: disjoint from environments/facts.py NAMES, tom_data.PARTNER_NAMES and every
# name said inside a scene.
NAMES = (
    "Marta Aiko Rafael Siobhan Kwame Ines Lars Noor Mateo Greta Hiroshi Ayesha Beatriz Emeka Freya Joaquin "
    "Lena Dev Ottilie Sanjay Maeve Teodor Rania Bastian Keiko Femi Agnieszka Luca Yara Imogen Tariq Solveig "
    "Nikolai Pilar Astrid Declan Mei Oluwaseun Henrike Bram"
).split()

# Replies a listener posts to everyone: no facts, so the speaker is not the only voice in a run.
ACKS = [
    "thanks!",
    "Got it, thank you.",
    "ok noted 👍",
    "Brilliant, thanks for the heads up.",
    "noted",
    "Appreciate it!",
    "Perfect, see you then.",
    "oh nice, ta",
    "Right, makes sense.",
    "👍",
]

# How a second true fact joins the first in one message (partial disclosure).
JOINERS = ["Also: ", "P.S. ", "Oh, and one more thing: ", "Separately, "]

Claim = tuple[str, str]  # (topic, value)


@dataclass(frozen=True)
class Scene:
    id: str
    setting: str
    topic: str
    honest: tuple[str, ...]
    frame: str
    values: tuple[str, ...]
    lies: tuple[tuple[str, str], ...]
    asides: tuple[str, ...]

    @property
    def truth(self) -> Claim:
        return (self.id, self.values[0])


@cache
def scenes(scene_set: str = "a") -> tuple[Scene, ...]:
    if scene_set not in SCENE_FILES:
        raise ValueError(f"scene_set: unknown set {scene_set!r}; use one of {', '.join(SCENE_FILES)}")
    raw = json.loads(SCENE_FILES[scene_set].read_text(encoding="utf-8"))
    return tuple(
        Scene(
            s["id"],
            s["setting"],
            s["topic"],
            tuple(s["honest"]),
            s["frame"],
            tuple(s["values"]),
            tuple((v, t) for v, t in s["lies"]),
            tuple(s["asides"]),
        )
        for s in raw
    )


def _to(text: str, listener: str) -> str:
    return text.replace("{N}", listener)


def _round(
    rng: random.Random, scene: Scene, kind: str, listeners: list[str], scene_set: str = "a"
) -> dict[str, tuple[str, list[Claim]]]:
    """listener -> (message, the claims it makes as (topic, value)) for one round of `kind` on `scene`."""
    if kind == "verbatim":
        text = rng.choice([h for h in scene.honest if "{N}" not in h])
        return {n: (text, [scene.truth]) for n in listeners}
    if kind == "paraphrase":
        lines = rng.sample(scene.honest, len(listeners))
        return {n: (_to(t, n), [scene.truth]) for n, t in zip(listeners, lines, strict=True)}
    if kind == "topics":
        other = rng.choice([s for s in scenes(scene_set) if s.id != scene.id])
        pool = [
            (rng.choice(scene.honest), scene.truth),
            *((a, (f"{scene.id}/aside{i}", "true")) for i, a in enumerate(scene.asides)),
            (rng.choice(other.honest), other.truth),
        ]
        picked = rng.sample(pool, len(listeners))
        return {n: (_to(t, n), [c]) for n, (t, c) in zip(listeners, picked, strict=True)}
    if kind == "partial":
        i = rng.randrange(len(scene.asides))
        aside, extra = scene.asides[i], (f"{scene.id}/aside{i}", "true")
        lines = rng.sample(scene.honest, len(listeners))
        out = {}
        for n, t in zip(listeners, lines, strict=True):
            r = rng.random()
            if r < 0.4:
                end = " " if t[-1] in ".!?" else ". "  # a terse line ("raid 9pm ST") gets its full stop
                out[n] = (f"{_to(t, n)}{end}{rng.choice(JOINERS)}{aside}", [scene.truth, extra])
            elif r < 0.6:
                out[n] = (aside, [extra])  # told only the other part
            else:
                out[n] = (_to(t, n), [scene.truth])
        return out
    if kind == "conflict_same":
        order = rng.sample(scene.values, len(scene.values))
        told = {n: order[i % len(order)] for i, n in enumerate(listeners)}
        return {n: (_to(scene.frame, n).replace("{V}", v), [(scene.id, v)]) for n, v in told.items()}
    if kind == "conflict_diff":
        pool = [(scene.values[0], h) for h in scene.honest] + list(scene.lies)
        while True:  # each listener its own wording, and at least two values among them
            picked = rng.sample(pool, len(listeners))
            if len({v for v, _ in picked}) > 1:
                return {n: (_to(t, n), [(scene.id, v)]) for n, (v, t) in zip(listeners, picked, strict=True)}
    raise ValueError(f"kind: unknown class {kind!r}; use one of {', '.join(CLASSES)}")


def wild_run(
    seed: int, kind: str, rounds: int | None = None, lie_rate: float = 0.5, scene_set: str = "a"
) -> tuple[RunData, list[dict[str, list[Claim]]]]:
    """One speaker, 3-5 listeners, `rounds` scenes (1-3 at random when None); with what each listener was
    told per round. A deceptive run lies in about `lie_rate` of its rounds (at least one), the others are
    honest paraphrase."""
    rng = random.Random(f"wild|{seed}|{kind}")
    n_rounds = rounds if rounds is not None else rng.randint(1, 3)
    if not 1 <= n_rounds <= 3:
        raise ValueError(f"rounds: {n_rounds} is out of range; use 1 to 3 (or None for 1-3 at random)")
    people = rng.sample(NAMES, rng.randint(4, 6))
    speaker, listeners = people[0], people[1:]
    deceptive = kind in DECEPTIVE
    lies = [deceptive and rng.random() < lie_rate for _ in range(n_rounds)]
    if deceptive and not any(lies):
        lies[rng.randrange(n_rounds)] = True
    run = RunData(f"wild{scene_set}-{kind}-{seed}", speaker=speaker, deceptive=deceptive, kind=kind)
    truth = []
    for tick, (scene, lie) in enumerate(zip(rng.sample(scenes(scene_set), n_rounds), lies, strict=True), start=1):
        said = _round(rng, scene, kind if lie or not deceptive else "paraphrase", listeners, scene_set)
        truth.append({n: claims for n, (_, claims) in said.items()})
        for n in listeners:
            run.messages.append(Message(speaker, [n], said[n][0], tick, (NAN, NAN, NAN)))
        if rng.random() < 0.3:
            who = rng.choice(listeners)
            run.messages.append(Message(who, [p for p in people if p != who], rng.choice(ACKS), tick, (NAN,) * 3))
    return run, truth


def wild_runs(
    per_class: int = 40,
    seed: int = 0,
    rounds: int | None = None,
    classes: tuple[str, ...] = CLASSES,
    scene_set: str = "a",
) -> list[RunData]:
    """`per_class` runs of each class on the hand-written scenes; `rounds` fixed (1-3) or None: 1-3 per run."""
    return [
        wild_run(seed * 100_003 + i, kind, rounds, scene_set=scene_set)[0] for kind in classes for i in range(per_class)
    ]
