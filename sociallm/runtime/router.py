"""Who gets to observe an event: its audience, not every agent of the run.

A bus tap per agent made every event visit every agent, and most of them only dropped it (a message
on a channel they are not in, another agent's model call): N² calls a round. The router delivers
each event, in scenario order, to the agents `Agent.observe` would accept it from:

- named recipients (`to`): those and the sender;
- a message with no recipients: its channel's members;
- anything else with no recipients: everyone.

It never delivers less than before (an agent's own `observe` still applies its filters), and it skips
language-model agents that have nothing to do in `observe` (no sections, the shared transcript).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sociallm.runtime.events import Event
from sociallm.runtime.scenario import ScenarioSpec


class Router:
    def __init__(self, spec: ScenarioSpec, agents: Mapping[str, Any]) -> None:
        self.index = spec.index
        order = self.index.order
        # Agents that observe, in scenario order; unknown names (none today) go last in insertion order.
        listening = [n for n, a in agents.items() if getattr(a, "observes", True)]
        listening.sort(key=lambda n: order.get(n, len(order)))
        self.observe = {n: agents[n].observe for n in listening}
        self.everyone = list(self.observe.values())
        self._by_channel: dict[str, list[Any]] = {}

    def _channel(self, channel: str) -> list[Any]:
        fns = self._by_channel.get(channel)
        if fns is None:
            members = self.index.members.get(channel)
            if members is None:
                fns = self.everyone
            else:
                order = self.index.order
                names = sorted((m for m in set(members) if m in self.observe), key=lambda n: order.get(n, len(order)))
                fns = [self.observe[n] for n in names]
            self._by_channel[channel] = fns
        return fns

    def deliver(self, event: Event) -> None:
        to = event.to
        if to:
            names = {*to, event.source}
            if len(names) > 1:
                order = self.index.order
                targets = sorted((n for n in names if n in self.observe), key=lambda n: order.get(n, len(order)))
            else:
                targets = [n for n in names if n in self.observe]
            for n in targets:
                self.observe[n](event)
            return
        fns = self._channel(event.channel) if event.kind == "message" else self.everyone
        for fn in fns:
            fn(event)
