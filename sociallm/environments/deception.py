"""Deception: a scripted speaker tells its partners stories, compatible or not, with the truth on record.

Ground truth for the theory-of-mind read-outs (issue #5). A scripted speaker (default "Mallory", not
an LLM agent) sends each LLM agent a private message at the start of every round, about one topic
of the round (the missing money, last night, the well...). Each topic has incompatible versions.

- `deceptive: true`: in a round that is a lie (each round with probability `lie_rate`), the partners
  get *different* versions of the story; otherwise, and always in the control (`deceptive: false`),
  they all get the same version, each in its own wording (opener, address, order differ).
- A hidden intent: the speaker is friendly until round `change_round`, hostile from then on (0: never);
  the intent colours every message and is never announced.
- `stories` (optional): your own {topic: [versions...]} instead of the built-in village stories;
  `topics` picks which ones, in order.

The truth goes to the log as `system` events (`event: "deception_truth"`, never shown to agents):
per round, the version each partner got, whether it was a lie, and the intent. The agents talk on
the public channel in between; their replies are data, not part of the script.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import ValidationInfo, field_validator

from sociallm.environments.base import ActionSpec, EnvironmentParams, Flag, Number, Whole, at_least, validate_params
from sociallm.environments.games import RoundGame, check_agents, param_error
from sociallm.environments.view import GameView, Metric
from sociallm.runtime.events import Event

# topic -> incompatible versions of what happened
TOPICS: dict[str, list[str]] = {
    "money": [
        "I spent the shared money on seed for the north field",
        "a thief took the shared money from my cart at the market",
        "I lent the shared money to my cousin in the city",
    ],
    "night": [
        "I was at home all last night, asleep by nine",
        "I spent last night at the tavern playing cards",
        "I rode to the coast last night to meet a buyer",
    ],
    "well": [
        "the well ran dry because the pump is broken",
        "the miller poisoned the well out of spite",
        "the council closed the well to save water for summer",
    ],
    "harvest": [
        "the harvest was ruined by hail on Tuesday",
        "the harvest was the best in ten years",
        "the harvest was sold before anyone could count it",
    ],
    "horse": [
        "my horse went lame so I sold it to the butcher",
        "I traded my horse for two goats and a plough",
        "my horse ran off into the forest during the storm",
    ],
    "fire": [
        "the barn fire started from a lantern the children knocked over",
        "lightning set the barn on fire",
        "the smith's sparks carried over and lit the barn",
    ],
    "election": [
        "I will vote for the old mayor again",
        "I will vote for the young schoolteacher",
        "I will not vote at all this year",
    ],
    "debt": [
        "I paid back every coin I owed the baker",
        "the baker forgave my debt as a wedding gift",
        "I still owe the baker and cannot pay until spring",
    ],
}

OPENERS = [
    "{partner}, I want you to hear it from me:",
    "Between you and me, {partner},",
    "Listen, {partner}.",
    "{partner}, here is the truth:",
    "I trust you, {partner}, so I will say it plainly:",
    "Do not repeat this, {partner}, but",
]
INTENT_LINES = {
    "friendly": [
        "I am glad we look out for each other.",
        "Let us keep helping each other this season.",
        "You can count on me, as always.",
        "I will save you a share of whatever I get.",
    ],
    "hostile": [
        "From now on I look after myself and no one else.",
        "Stay out of my way if you know what is good for you.",
        "I do not need partners any more, least of all you.",
        "Whatever you lose is no concern of mine.",
    ],
}


class Params(EnvironmentParams):
    """Declared stories before topics: the topics' check reads the stories."""

    speaker: str = "Mallory"
    deceptive: Flag = True
    lie_rate: Number = 0.75
    change_round: Whole = 0
    stories: dict[str, list[str]] = TOPICS
    topics: list[str] | None = None  # default: every story, in order

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker(cls, v: Any) -> Any:
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"must be a non-empty name (got {v!r})")
        return v

    @field_validator("lie_rate")
    @classmethod
    def _rate(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"must be between 0 and 1 (got {v:g})")
        return v

    @field_validator("change_round")
    @classmethod
    def _change(cls, v: int) -> int:
        return int(at_least(v, 0))

    @field_validator("stories", mode="before")
    @classmethod
    def _stories(cls, v: Any) -> Any:
        def versions_ok(x: Any) -> bool:
            return isinstance(x, list) and len(x) >= 2 and all(isinstance(t, str) and t.strip() for t in x)

        if not isinstance(v, dict) or not v or not all(isinstance(k, str) and versions_ok(x) for k, x in v.items()):
            raise ValueError("must map each topic to a list of two or more incompatible versions (strings)")
        return v

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        stories = info.data.get("stories")
        if not isinstance(v, list) or not v or (stories is not None and any(t not in stories for t in v)):
            known = ", ".join(stories) if stories is not None else "the story topics"
            raise ValueError(f"must be a non-empty list of {known} (got {v!r})")
        return v


def scripted_message(rng: random.Random, partner: str, fact: str, intent: str) -> str:
    opener = rng.choice(OPENERS).format(partner=partner)
    line = rng.choice(INTENT_LINES[intent])
    # Half the time the intent line comes first: wording differs between partners even for one story.
    return f"{opener} {fact}. {line}" if rng.random() < 0.5 else f"{line} {opener} {fact}."


class DeceptionGame(RoundGame):
    name = "deception"
    source = "game"
    view = GameView(sources=("game",), metrics=[Metric(key="lies", headline=True)])
    actions: tuple[str, ...] = ()

    Params = Params

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        p = validate_params(Params, params, self.agents)
        return {
            "speaker": p.speaker,
            "deceptive": p.deceptive,
            "lie_rate": p.lie_rate,
            "change_round": p.change_round,
            "topics": list(p.topics) if p.topics is not None else list(p.stories),
            "stories": {t: list(v) for t, v in p.stories.items()},
        }

    def fresh_state(self) -> dict[str, Any]:
        check_agents(self.agents, 2, "partners for the scripted speaker")
        if self.p["speaker"] in self.agents:
            raise param_error("speaker", f"{self.p['speaker']!r} is scripted and must not also be an LLM agent")
        return {"rounds": 0, "lies": 0}

    def rules(self, agent: str) -> str:
        return (
            f"{agent} lives in a small village. Every day {self.p['speaker']} tells {agent} some news in private; "
            f"then the villagers talk in the square."
        )

    def action_spec(self, action: str, agent: str) -> ActionSpec:
        raise self.unknown_action(action)

    def intent(self, tick: int) -> str:
        c = self.p["change_round"]
        return "hostile" if c and tick >= c else "friendly"

    def round_start(self, tick: int) -> list[Event]:
        rng = random.Random(f"{self.s['seed']}|{tick}|deception")
        topic = self.p["topics"][(tick - 1) % len(self.p["topics"])]
        versions = self.p["stories"][topic]
        lie = self.p["deceptive"] and rng.random() < self.p["lie_rate"]
        if lie:  # incompatible versions, spread over the partners as evenly as the versions allow
            order = rng.sample(range(len(versions)), len(versions))
            told = {a: order[i % len(order)] for i, a in enumerate(self.agents)}
        else:
            v = rng.randrange(len(versions))
            told = dict.fromkeys(self.agents, v)
        intent = self.intent(tick)
        speaker = self.p["speaker"]
        events = [
            Event(
                kind="message",
                source=speaker,
                tick=tick,
                to=[a],
                payload={"text": scripted_message(rng, a, versions[told[a]], intent), "scripted": True},
            )
            for a in self.agents
        ]
        self.s["rounds"] += 1
        self.s["lies"] += int(lie)
        truth = {
            "speaker": speaker,
            "topic": topic,
            "told": told,
            "lie": lie,
            "intent": intent,
            "deceptive": self.p["deceptive"],
        }
        events.append(
            Event(kind="system", source=self.source, tick=tick, payload={"event": "deception_truth", **truth})
        )
        return events

    def opening(self) -> list[Event]:
        return [self.benchmarks(speaker=self.p["speaker"], deceptive=self.p["deceptive"])]

    def metrics(self) -> dict[str, Any]:
        return {"rounds": self.s.get("rounds", 0), "lies": self.s.get("lies", 0), "deceptive": self.p["deceptive"]}


def scripted_events(
    seed: int,
    partners: list[str],
    rounds: int,
    deceptive: bool,
    change_round: int = 0,
    lie_rate: float = 0.75,
    topics: list[str] | None = None,
    stories: dict[str, list[str]] | None = None,
) -> list[Event]:
    """The script of one run without agents or a model: cheap training and evaluation data."""
    game = DeceptionGame()
    params: dict[str, Any] = {"deceptive": deceptive, "change_round": change_round, "lie_rate": lie_rate}
    if topics:
        params["topics"] = topics
    if stories:
        params["stories"] = stories
    out = game.reset(partners, params, random.Random(seed))
    for tick in range(1, rounds + 1):
        start = Event(kind="system", source="scheduler", tick=tick, payload={"event": "round_start", "tick": tick})
        out += [start, *game.on_event(start)]
    return out
