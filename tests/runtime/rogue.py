"""A rogue broker client: no run key, but it can connect, listen to everything and publish anywhere.

It keeps publishing unsigned messages, messages signed with keys of its own, tampered copies and
verbatim replays of what it heard, on every topic of a run (events and control), and records what
it could read.
"""

from __future__ import annotations

import asyncio
import json
import random

from sociallm.orchestration.remote import Down, SpecMessage, Up
from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import MqttLink, control_topic, parse_bus_url
from sociallm.runtime.mqtt_security import AgentSigner, Credential, RunSigner

MARK = "FORGED-BY-ROGUE"


class Rogue:
    """Listens to everything it can, and keeps publishing garbage, forgeries and replays on every topic."""

    def __init__(self, url: str, run: str, groups: dict[str, list[str]], ca_file: str | None = None) -> None:
        self.run = run
        self.groups = groups
        self.heard: list[tuple[str, bytes]] = []
        self.sent = 0
        self.link = MqttLink(parse_bus_url(url, ca_file=ca_file), f"rogue-{run}", [f"sociallm/{run}/#"], self._hear)
        own = Credential.generate(run)  # a key of its own: signatures that verify under the wrong key
        self.fake_run = RunSigner(own, epoch=2**62)
        self.fake_workers = {w: AgentSigner(own.for_agents(a), sender=w, epoch=2**62) for w, a in groups.items()}
        self.rng = random.Random(5)
        self.seq = 0
        self.mine: set[bytes] = set()  # what it published itself (it hears that too)

    def publish(self, topic: str, data: bytes, retain: bool = False) -> None:
        self.mine.add(data)
        self.link.publish(topic, data, retain=retain)
        self.sent += 1

    def _hear(self, topic: str, payload: bytes) -> None:
        if "/_ctl/" not in topic:
            try:
                self.seq = max(self.seq, json.loads(payload.rpartition(b"\n")[0] or payload)["seq"])
            except (ValueError, KeyError, TypeError):
                pass
        if payload and payload not in self.mine:
            self.heard.append((topic, payload))
            if "/_ctl/" not in topic and self.link.backlog < 100:  # substitution: a copy of it, at the next seq
                for data in self.forgeries(topic)[-2:]:
                    self.publish(topic, data)

    def topics(self) -> list[str]:
        ctl = [["spec"], ["down", "Alice"], ["down", "Bob"], ["down", "Carol"], ["down", "_all"]]
        ctl += [["up", w] for w in self.groups] + [["up", "rogue"]]
        events = [f"sociallm/{self.run}/{c}" for c in ("public", "backroom", "system", "llm", "affect", "memory")]
        return events + [control_topic(self.run, *p) for p in ctl]

    def forgeries(self, topic: str) -> list[bytes]:
        """What a client without keys can make for this topic: unsigned, self-signed, and tampered copies."""
        run, nxt = self.run, self.seq + 1
        channel = topic.rsplit("/", 1)[1]
        fake = Event(kind="message", source="Alice", channel=channel, run=run, seq=nxt, payload={"text": MARK})
        bodies = [fake.model_dump_json().encode()]
        if "/_ctl/down/" in topic:
            agent = topic.rsplit("/", 1)[1]
            bodies = [Down(kind="stop").model_dump_json().encode()]
            bodies.append(Down(kind="turn", agent=agent).model_dump_json().encode())
        elif "/_ctl/up/" in topic:
            worker = topic.rsplit("/", 1)[1]
            propose = Up(kind="propose", worker=worker, events=[fake], agent="Alice")
            bodies = [propose.model_dump_json().encode()]
            bodies.append(Up(kind="gone", worker=worker, epoch=99).model_dump_json().encode())
        elif topic.endswith("/spec"):
            spec = SpecMessage(run=run, scenario={}, rules={"Alice": MARK}, start_seq=0, run_dir="/tmp")
            bodies = [spec.model_dump_json().encode()]
        out = []
        for body in bodies:
            out.append(body)  # unsigned
            out.append(self.fake_run.wrap(topic, body))  # signed as "the run" with the wrong key
            for w, signer in self.fake_workers.items():  # signed as a worker with keys that are not the run's
                out.append(signer.wrap(topic, body, self.groups[w]))
        if self.heard:  # a genuine message, tampered: its text swapped, its seq bumped
            _, genuine = self.rng.choice(self.heard)
            out.append(genuine.replace(b'"text":"', f'"text":"{MARK} '.encode(), 1))
            out.append(genuine.replace(b'"seq":', b'"seq":1', 1))
        return out

    def attack(self) -> None:
        for topic in self.topics():
            for data in self.forgeries(topic):
                self.publish(topic, data, retain=topic.endswith("/spec") and self.rng.random() < 0.2)
        for topic, genuine in self.rng.sample(self.heard, min(12, len(self.heard))):
            self.publish(topic, genuine)  # replayed as is
            self.publish(self.rng.choice(self.topics()), genuine)  # replayed onto another topic

    async def keep_attacking(self, every_s: float = 0.3) -> None:
        """A steady stream, not a flood: a broker without ACLs cannot stop a flood, and that is not what is tested."""
        while True:
            if self.link.backlog < 100:
                self.attack()
            await asyncio.sleep(every_s)
