"""The recent transcript agents read: bounded windows of rendered lines, shared by every agent of a run.

Each agent used to keep its own deque of the last `history_lines` lines it saw, fed by a bus tap per
agent: every event visited every agent (N² work per round) and every line was copied N times. Here
one tap renders each event once into the window of its audience:

- a message with no named recipients: its channel's window (all members see it);
- an event with named recipients (`to`): the channel's window when they are the whole channel,
  otherwise each recipient's own window (and the sender's);
- any other event with no recipients (round markers, public outcomes): the window everyone reads.

An agent's view merges the windows it can see and keeps the last `history_lines` by run seq. Each
window holds at most `history_lines`, so the merge is exactly the per-agent deque it replaces, and its
size does not depend on how many agents there are. A window also remembers who spoke, so stop strings
and reply repairs name the speakers an agent has in front of it, not the whole village.

An agent living in a worker (MQTT) keeps its own `Transcript` and feeds it in `observe`, as before.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from sociallm.agents.prompts import render_event
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import ScenarioSpec

TRANSCRIPT_KINDS = frozenset({"message", "observation", "outcome", "action", "system"})

# (seq, line, speaker): the speaker is the agent a message line quotes, "" for any other line.
Line = tuple[int, str, str]


class Transcript:
    def __init__(self, scenario: ScenarioSpec, lines: int | None = None) -> None:
        self.index = scenario.index
        self.lines = lines or scenario.agent.history_lines
        self.everyone: deque[Line] = deque(maxlen=self.lines)
        self.channels: dict[str, deque[Line]] = {}
        self.personal: dict[str, deque[Line]] = {}

    def _window(self, table: dict[str, deque[Line]], key: str) -> deque[Line]:
        w = table.get(key)
        if w is None:
            w = table[key] = deque(maxlen=self.lines)
        return w

    def add(self, event: Event) -> None:
        """Render `event` once into its audience's window (a bus tap: cheap, in publish order)."""
        kind = event.kind
        if kind not in TRANSCRIPT_KINDS:
            return
        to = event.to
        # The viewer matters only for actions (an agent reads only its own): its source is the viewer.
        line = render_event(event, event.source, self.index.private)
        if line is None:
            return
        item = (event.seq, line, event.source if kind == "message" else "")
        if kind == "message":
            members = self.index.members.get(event.channel)
            if members is None:
                return  # a channel no agent belongs to
            if not to or (len(to) + 1 >= len(members) and set(members) <= {*to, event.source}):
                self._window(self.channels, event.channel).append(item)
                return
            for name in {*to, event.source}:
                if name in self.index.order and event.channel in self.index.channels_of(name):
                    self._window(self.personal, name).append(item)
            return
        if not to:
            self.everyone.append(item)
            return
        for name in {*to, event.source}:
            if name in self.index.order:
                self._window(self.personal, name).append(item)

    def view(self, agent: str) -> list[Line]:
        """The last `lines` lines `agent` can see, oldest first."""
        windows: list[Any] = [self.everyone]
        for ch in self.index.channels_of(agent):
            w = self.channels.get(ch)
            if w:
                windows.append(w)
        own = self.personal.get(agent)
        if own:
            windows.append(own)
        if len(windows) == 1:
            return list(self.everyone)
        merged = list(heapq.merge(*windows))
        return merged[-self.lines :]

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "everyone": [list(x) for x in self.everyone],
            "channels": {k: [list(x) for x in w] for k, w in self.channels.items() if w},
            "personal": {k: [list(x) for x in w] for k, w in self.personal.items() if w},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        def window(items: list[Any]) -> deque[Line]:
            return deque((tuple(x) for x in items), maxlen=self.lines)  # type: ignore[misc]

        self.everyone = window(state.get("everyone", []))
        self.channels = {k: window(v) for k, v in state.get("channels", {}).items()}
        self.personal = {k: window(v) for k, v in state.get("personal", {}).items()}

    def load_lines(self, agent: str, lines: list[str]) -> None:
        """An agent's own lines from a checkpoint of its own transcript (no seqs: keep their order)."""
        self.personal[agent] = deque(((i, line, "") for i, line in enumerate(lines)), maxlen=self.lines)
