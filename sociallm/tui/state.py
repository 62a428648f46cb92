"""What the panels show, folded from events: pure Python, no Textual, so it is unit-testable.

`SocietyState.apply(event)` is the only way in. Panels read the state and the `dirty` sets that say
what changed since they last drew, so a burst of events costs one redraw per panel, not one per event.
Payload shapes of the cognitive subsystems (affect, memory, tom) are still settling: everything is
read with `.get` and unknown shapes degrade to a text summary instead of failing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sociallm.environments import environment_view
from sociallm.environments.view import EMPTY, GameView
from sociallm.reports.sections import SectionTally
from sociallm.runtime.events import Event

HISTORY = 60  # points kept per sparkline
RECENT = 8  # memories / reflections kept per agent
# Sources that are the run's own, not agents; each game adds the sources it declares (its `view.sources`).
RUNTIME_SOURCES = frozenset({"scheduler", "runtime", "moderator"})
TEXT_KEYS = ("text", "insight", "description", "content", "memory", "summary", "question")


def first_text(payload: dict[str, Any]) -> str:
    """The most readable string in a payload of unknown shape."""
    for key in TEXT_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return "; ".join(value)
    for key in ("insights", "memories", "results"):
        value = payload.get(key)
        if isinstance(value, list) and value:
            item = value[0]
            if isinstance(item, dict):
                return first_text(item) + (f" (+{len(value) - 1})" if len(value) > 1 else "")
            return str(item)
    rest = {k: v for k, v in payload.items() if k != "op"}
    return str(rest)[:120]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


@dataclass
class ChatLine:
    seq: int
    tick: int
    source: str
    channel: str
    text: str
    to: list[str] = field(default_factory=list)
    injected: bool = False
    label: str | None = None  # the speaker's emotion word, when an affect event names this message
    event_id: str = ""
    kind: str = "message"  # or "round" / "outcome": markers in the "all" view
    index: int = -1  # position in SocietyState.lines


@dataclass
class AgentView:
    name: str
    valence: float | None = None
    arousal: float | None = None
    word: str | None = None
    valence_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    arousal_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last_action: str = ""
    last_said: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    memories: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))
    reflections: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))
    retrievals: int = 0
    # target -> metric -> latest value: the theory-of-mind read-outs this agent holds about others.
    tom: dict[str, dict[str, float]] = field(default_factory=dict)
    # what the theory of mind says about this agent itself: duplicity, self–other overlap
    tom_self: dict[str, float] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Metrics:
    """The scenario panel's data, folded as the game's `view.panel` declares (see environments/view.py)."""

    view: GameView = EMPTY
    owners: list[str] = field(default_factory=list)  # whose values the chart shows, in order of appearance
    chart: dict[str, deque[float]] = field(default_factory=dict)  # owner -> values of panel.chart
    sparks: dict[str, deque[float]] = field(default_factory=dict)  # series key -> values
    last: dict[str, dict[str, float]] = field(default_factory=dict)  # series key -> owner -> last value
    benchmarks: dict[str, Any] = field(default_factory=dict)  # the run's own reference values
    ticks: deque[int] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last_text: str = ""

    def lines(self) -> list[tuple[str, str, float]]:
        """(mark, label, value) of the panel's reference lines that this run has a value for."""
        panel = self.view.panel
        out = []
        for ref in panel.lines if panel else []:
            x = ref.resolve(self.benchmarks)
            if x is not None:
                out.append((ref.mark, ref.label or ref.key, x))
        return out

    @property
    def empty(self) -> bool:
        return not self.chart and not self.sparks and not self.lines()


class SocietyState:
    def __init__(self, agents: list[str] | None = None, view: GameView | None = None) -> None:
        self.agents: dict[str, AgentView] = {}
        self.lines: list[ChatLine] = []  # every message and marker, in seq order
        self.channels: list[str] = []  # channels that carried messages, in order of first message
        self.by_id: dict[str, ChatLine] = {}
        self.metrics = Metrics(view=view or EMPTY)
        self.not_agents = RUNTIME_SOURCES | set(self.metrics.view.sources)
        self.round = 0
        self.rounds_total: int | None = None
        self.status = ""  # last run status seen in the log: running / completed / stopped ...
        self.events = 0
        self.tokens = 0
        self.seen_kinds: set[str] = set()
        self.tally = SectionTally()  # per-agent section summaries, as report.md has them
        # What changed since panels last drew; panels clear the sets they consume.
        self.dirty_agents: set[str] = set()
        self.relabelled: list[ChatLine] = []  # lines whose emotion label came after the line itself
        self.metrics_dirty = False
        for name in agents or []:
            self.agent(name)

    def use_view(self, view: GameView) -> None:
        if view is not self.metrics.view:
            self.metrics.view = view
            self.not_agents = RUNTIME_SOURCES | set(view.sources)
            self.metrics_dirty = True

    # -- queries -----------------------------------------------------------------------------------
    @property
    def emotion_enabled(self) -> bool:
        return "affect" in self.seen_kinds

    @property
    def memory_enabled(self) -> bool:
        return "memory" in self.seen_kinds

    @property
    def tom_enabled(self) -> bool:
        return "tom" in self.seen_kinds

    def agent(self, name: str) -> AgentView:
        view = self.agents.get(name)
        if view is None:
            view = self.agents[name] = AgentView(name)
            self.dirty_agents.add(name)
        return view

    def lines_for(self, channel: str | None = None, who: str | None = None) -> list[ChatLine]:
        """Lines of one channel (None: all), optionally only those `who` said, received or was named in."""
        out = []
        for line in self.lines:
            if channel is not None and (line.kind != "message" or line.channel != channel):
                continue
            if who is not None and line.kind == "message" and who not in (line.source, *line.to, line.channel):
                continue
            out.append(line)
        return out

    # -- folding -------------------------------------------------------------------------------------
    def _add_line(self, line: ChatLine) -> None:
        line.index = len(self.lines)
        self.lines.append(line)

    def apply(self, ev: Event) -> None:
        self.events += 1
        self.seen_kinds.add(ev.kind)
        if ev.kind in SectionTally.KINDS:
            self.tally.add(ev)
        handler = getattr(self, f"_on_{ev.kind}", None)
        if handler is not None:
            handler(ev)

    def _on_system(self, ev: Event) -> None:
        p = ev.payload
        what = p.get("event")
        if what in ("run_start", "resumed") and p.get("environment") and self.metrics.view is EMPTY:
            self.use_view(environment_view(p["environment"]))
        if what == "round_start":
            self.round = max(self.round, int(p.get("tick", ev.tick) or ev.tick))
            self._add_line(ChatLine(ev.seq, ev.tick, "", "", f"round {self.round}", kind="round"))
        elif what == "run_start":
            self.status = "running"
        elif what == "resumed":
            self.status = "running"
        elif what == "run_end":
            self.status = str(p.get("status", "ended"))
        elif what == "benchmarks":
            self.metrics.benchmarks.update({k: v for k, v in p.items() if k != "event"})
            self.metrics_dirty = True

    def _on_message(self, ev: Event) -> None:
        line = ChatLine(
            ev.seq,
            ev.tick,
            ev.source,
            ev.channel,
            ev.text,
            to=list(ev.to),
            injected=bool(ev.payload.get("injected")),
            event_id=ev.id,
        )
        self._add_line(line)
        self.by_id[ev.id] = line
        if ev.channel not in self.channels:
            self.channels.append(ev.channel)
        if ev.source not in self.not_agents:
            self.agent(ev.source).last_said = ev.text
            self.dirty_agents.add(ev.source)

    def _on_action(self, ev: Event) -> None:
        p = ev.payload
        shown = p.get("shown")
        if shown is None:
            value = p.get("value")
            shown = "—" if value is None else str(value)
        view = self.agent(ev.source)
        view.last_action = f"{p.get('action', 'act')} {shown}"
        self.dirty_agents.add(ev.source)

    def _on_llm_call(self, ev: Event) -> None:
        p = ev.payload
        pt, ct = int(p.get("prompt_tokens") or 0), int(p.get("completion_tokens") or 0)
        self.tokens += pt + ct
        if ev.source in self.not_agents:
            return
        view = self.agent(ev.source)
        view.prompt_tokens += pt
        view.completion_tokens += ct
        view.calls += 1
        self.dirty_agents.add(ev.source)

    def _on_affect(self, ev: Event) -> None:
        p = ev.payload
        after = p.get("after") if isinstance(p.get("after"), dict) else p
        view = self.agent(ev.source)
        v, a = _num(after.get("valence")), _num(after.get("arousal"))
        if v is not None:
            view.valence = v
            view.valence_history.append(v)
        if a is not None:
            view.arousal = a
            view.arousal_history.append(a)
        if isinstance(after.get("word"), str):
            view.word = after["word"]
        self.dirty_agents.add(ev.source)
        # An affect event about one of the agent's own messages labels that message.
        target = self.by_id.get(str(p.get("event", "")))
        if target is not None and target.source == ev.source:
            details = p.get("details") if isinstance(p.get("details"), dict) else {}
            label = details.get("label") or after.get("word")
            if isinstance(label, str) and label != target.label:
                target.label = label
                self.relabelled.append(target)

    def _on_memory(self, ev: Event) -> None:
        p = ev.payload
        op = str(p.get("op", "add"))
        view = self.agent(ev.source)
        if op.startswith("reflect"):
            view.reflections.append(first_text(p))
        elif op == "retrieve":
            view.retrievals += 1
        else:
            view.memories.append(first_text(p))
        self.dirty_agents.add(ev.source)

    def _on_tom(self, ev: Event) -> None:
        p = ev.payload
        if isinstance(p.get("speaker"), str) and isinstance(p.get("surprise"), dict):
            self._on_tom_message(p)
            return
        view = self.agent(ev.source)
        rows: list[tuple[str, dict[str, Any]]] = []
        target = p.get("target") or p.get("about") or p.get("other")
        if isinstance(target, str):
            rows.append((target, p.get("metrics") if isinstance(p.get("metrics"), dict) else p))
        # Or one entry per target: {"targets": {"Bob": {"surprise": 0.3, ...}, ...}}.
        for key in ("targets", "others", "readouts"):
            if isinstance(p.get(key), dict):
                rows += [(t, m) for t, m in p[key].items() if isinstance(m, dict)]
        for tgt, values in rows:
            cells = view.tom.setdefault(tgt, {})
            for metric, value in values.items():
                x = _num(value)
                if x is not None and metric not in ("tick", "seq", "step"):
                    cells[metric] = x
        self.dirty_agents.add(ev.source)

    def _on_tom_message(self, p: dict[str, Any]) -> None:
        """The ToM section's event for one message: each observer's surprise, the speaker's duplicity."""
        speaker = p["speaker"]
        me = self.agent(speaker)
        for key in ("duplicity", "overlap"):
            x = _num(p.get(key))
            if x is not None:
                me.tom_self[key] = x
        self.dirty_agents.add(speaker)
        observers = {o for o in p.get("observers") or [] if isinstance(o, str)} | set(p["surprise"])
        for obs in observers - {speaker}:
            cells = self.agent(obs).tom.setdefault(speaker, {})
            x = _num(p["surprise"].get(obs))
            if x is not None:
                cells["surprise"] = x
            if "duplicity" in me.tom_self:  # how the speaker looks to everyone, next to how it surprises me
                cells["duplicity"] = me.tom_self["duplicity"]
            self.dirty_agents.add(obs)

    def _on_outcome(self, ev: Event) -> None:
        p = ev.payload
        m = self.metrics
        panel = m.view.panel
        if panel is not None:
            if panel.chart is not None and isinstance(p.get(panel.chart.key), dict):
                for owner, value in p[panel.chart.key].items():
                    x = _num(value)
                    if x is None:
                        continue
                    if owner not in m.owners:
                        m.owners.append(owner)
                    m.chart.setdefault(owner, deque(maxlen=HISTORY)).append(x)
            for series in panel.sparks:
                x = _num(p.get(series.key))
                if x is not None:
                    m.sparks.setdefault(series.key, deque(maxlen=HISTORY)).append(x)
            for series in panel.last:
                if isinstance(p.get(series.key), dict):
                    m.last[series.key] = {k: float(v) for k, v in p[series.key].items() if _num(v) is not None}
            # An outcome may carry reference values too (the latest wins).
            m.benchmarks.update({r.key: p[r.key] for r in panel.lines if r.key and _num(p.get(r.key)) is not None})
        m.ticks.append(ev.tick)
        m.last_text = ev.text
        self.metrics_dirty = True
        self._add_line(ChatLine(ev.seq, ev.tick, ev.source, ev.channel, ev.text, kind="outcome"))
