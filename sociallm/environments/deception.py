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

from sociallm.environments.base import ActionSpec
from sociallm.environments.games import RoundGame, check_agents, check_known, integer, number, param_error
from sociallm.runtime.events import Event

KNOWN = ("speaker", "deceptive", "lie_rate", "change_round", "topics", "stories")

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


def scripted_message(rng: random.Random, partner: str, fact: str, intent: str) -> str:
    opener = rng.choice(OPENERS).format(partner=partner)
    line = rng.choice(INTENT_LINES[intent])
    # Half the time the intent line comes first: wording differs between partners even for one story.
    return f"{opener} {fact}. {line}" if rng.random() < 0.5 else f"{line} {opener} {fact}."


class DeceptionGame(RoundGame):
    name = "deception"
    source = "game"
    actions: tuple[str, ...] = ()

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, KNOWN)
        speaker = params.get("speaker", "Mallory")
        if not isinstance(speaker, str) or not speaker.strip():
            raise param_error("speaker", f"must be a non-empty name (got {speaker!r})")
        deceptive = params.get("deceptive", True)
        if not isinstance(deceptive, bool):
            raise param_error("deceptive", f"must be true or false (got {deceptive!r})")
        stories = params.get("stories", TOPICS)

        def versions_ok(v: Any) -> bool:
            return isinstance(v, list) and len(v) >= 2 and all(isinstance(x, str) and x.strip() for x in v)

        if not isinstance(stories, dict) or not stories or not all(versions_ok(v) for v in stories.values()):
            raise param_error("stories", "must map each topic to a list of two or more incompatible versions (strings)")
        topics = params.get("topics", list(stories))
        if not isinstance(topics, list) or not topics or any(t not in stories for t in topics):
            raise param_error("topics", f"must be a non-empty list of {', '.join(stories)} (got {topics!r})")
        return {
            "speaker": speaker,
            "deceptive": deceptive,
            "lie_rate": number(params, "lie_rate", 0.75, 0.0, 1.0),
            "change_round": integer(params, "change_round", 0, 0),
            "topics": topics,
            "stories": {t: list(v) for t, v in stories.items()},
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
