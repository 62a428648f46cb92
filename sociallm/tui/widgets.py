"""The panels: conversation, agents table, agent detail, scenario metrics, status bar.

Each panel draws from a `SocietyState` when the app tells it to (once per drain tick), never per event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, RichLog, Static, TabbedContent, TabPane

from sociallm.tui.plots import LINE_STYLES, bar, colour_for, heat_map, no_minus_zero, series_chart, signed_bar, spark
from sociallm.tui.state import RUNTIME_SOURCES, AgentView, ChatLine, SocietyState

ALL = "all"
NOT_ENABLED = "not enabled in this run"


def _pane_id(channel: str) -> str:
    return "chan-" + re.sub(r"[^A-Za-z0-9_-]", "_", channel)


class Palette:
    """One colour per speaker, stable for the whole session."""

    def __init__(self) -> None:
        self.colours: dict[str, str] = {"moderator": "bold white"}
        self.not_agents: set[str] = set(RUNTIME_SOURCES)

    def quiet(self, sources: Iterable[str]) -> None:
        """The game's own sources (its view's) are drawn dim, and take no agent colour."""
        for source in sources:
            self.not_agents.add(source)
            self.colours.setdefault(source, "dim")

    def __call__(self, name: str) -> str:
        if name not in self.colours:
            self.colours[name] = colour_for(len([n for n in self.colours if n not in self.not_agents]))
        return self.colours[name]


def format_line(line: ChatLine, colour: Palette, show_channel: bool) -> Text:
    if line.kind == "round":
        return Text(f"── {line.text} ──", style="bold dim")
    if line.kind == "outcome":
        return Text(f"   {line.source}: {line.text}", style="dim")
    out = Text(f"{line.tick:>3} ", style="dim")
    if show_channel and line.channel != "public":
        out.append(f"#{line.channel} ", style="dim")
    if line.to:
        out.append("🔒 ", style="yellow")
    out.append(line.source, style=colour(line.source) + ("" if line.source == "moderator" else " bold"))
    if line.to:
        out.append(f" → {', '.join(line.to)}", style="yellow")
    if line.injected:
        out.append(" [injected]", style="bold white on dark_red")
    if line.label:
        out.append(f" ({line.label})", style="italic " + colour(line.source))
    out.append(": ")
    out.append(line.text)
    return out


class ConversationPane(Vertical):
    """A tab with everything, then a tab per channel that carried messages."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.colour = Palette()
        self.channels: list[str] = []
        self.filter: str | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            with TabPane("all", id=_pane_id(ALL)):
                yield self._log(ALL)

    def _log(self, channel: str) -> RichLog:
        log = RichLog(
            id=f"log-{_pane_id(channel)}", wrap=True, markup=False, highlight=False, max_lines=2000, min_width=20
        )
        log.can_focus = False  # focus stays on the agents table: arrows and tab pick agents
        return log

    def log_for(self, channel: str) -> RichLog:
        return self.query_one(f"#log-{_pane_id(channel)}", RichLog)

    async def ensure_channel(self, channel: str) -> None:
        if channel in self.channels:
            return
        self.channels.append(channel)
        title = f"#{channel}"
        await self.query_one(TabbedContent).add_pane(TabPane(title, self._log(channel), id=_pane_id(channel)))

    def active_channel(self) -> str | None:
        active = self.query_one(TabbedContent).active
        for channel in self.channels:
            if _pane_id(channel) == active:
                return channel
        return None

    def cycle(self) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [_pane_id(ALL)] + [_pane_id(c) for c in self.channels]
        tabs.active = ids[(ids.index(tabs.active) + 1) % len(ids)] if tabs.active in ids else ids[0]

    def _passes(self, line: ChatLine) -> bool:
        f = self.filter
        return f is None or line.kind != "message" or f in (line.source, line.channel, *line.to)

    def write(self, lines: list[ChatLine]) -> None:
        everything = self.log_for(ALL)
        for line in lines:
            if not self._passes(line):
                continue
            everything.write(format_line(line, self.colour, show_channel=True))
            if line.kind == "message" and line.channel in self.channels:
                self.log_for(line.channel).write(format_line(line, self.colour, show_channel=False))

    def rebuild(self, state: SocietyState, channels: set[str] | None = None) -> None:
        """Redraw from the state: after a filter change, or when drawn lines got an emotion label."""
        targets = [ALL, *self.channels] if channels is None else [ALL, *[c for c in channels if c in self.channels]]
        for channel in targets:
            log = self.log_for(channel)
            log.clear()
            lines = state.lines if channel == ALL else state.lines_for(channel)
            for line in lines[-log.max_lines if log.max_lines else 0 :]:
                if self._passes(line):
                    log.write(format_line(line, self.colour, show_channel=channel == ALL))


class AgentsTable(DataTable):
    COLUMNS = (("agent", "Agent"), ("valence", "Valence"), ("arousal", "Arousal"), ("feels", "Feels"),
               ("action", "Action"), ("tokens", "Tokens"))  # fmt: skip

    def __init__(self, colour: Palette, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.colour = colour
        self.names: list[str] = []

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    def cells(self, view: AgentView, emotion: bool) -> list[Text | str]:
        name = Text(view.name, style=self.colour(view.name) + " bold")
        if not emotion or view.valence is None:
            none = Text("—", style="dim")
            valence = arousal = feels = none
        else:
            # Narrow on purpose: the table shares the right column with the detail and metrics panes.
            valence = signed_bar(view.valence, 6)
            valence.append(f"{no_minus_zero(view.valence):+.2f} ")
            valence.append(spark(view.valence_history, -1.0, 1.0, 5), style="green")
            arousal = bar(view.arousal or 0.0, 4)
            arousal.append(f"{view.arousal or 0.0:.2f} ")
            arousal.append(spark(view.arousal_history, 0.0, 1.0, 5), style="yellow")
            feels = Text(view.word or "")
        return [name, valence, arousal, feels, view.last_action or "", f"{view.tokens:,}"]

    def refresh_agents(self, state: SocietyState, names: set[str]) -> None:
        for name in sorted(names, key=lambda n: list(state.agents).index(n)):
            view = state.agents[name]
            cells = self.cells(view, state.emotion_enabled)
            if name not in self.names:
                self.names.append(name)
                self.add_row(*cells, key=name)
                continue
            for (key, _), value in zip(self.COLUMNS, cells, strict=True):
                self.update_cell(name, key, value, update_width=True)

    def selected(self) -> str | None:
        if not self.names or self.cursor_row < 0 or self.cursor_row >= len(self.names):
            return None
        return self.names[self.cursor_row]


class AgentDetail(Static):
    def show(self, state: SocietyState, name: str | None) -> None:
        if name is None or name not in state.agents:
            self.update(Text("no agent selected", style="dim"))
            return
        v = state.agents[name]
        out = Text()
        out.append(name, style="bold")
        out.append(f"  {v.calls} model calls, {v.prompt_tokens:,}+{v.completion_tokens:,} tokens\n", style="dim")
        if v.last_said:
            out.append("said: ", style="dim")
            out.append(v.last_said[:200] + "\n")
        out.append("emotion: ", style="bold")
        if state.emotion_enabled and v.valence is not None:
            out.append(f"{v.word or '?'} (valence {no_minus_zero(v.valence):+.2f}, arousal {v.arousal or 0:.2f})\n")
        else:
            out.append(NOT_ENABLED + "\n", style="dim")
        out.append("memory: ", style="bold")
        if state.memory_enabled:
            out.append(f"{len(v.memories)} recent, {v.retrievals} retrievals\n", style="dim")
            for text in list(v.memories)[-4:]:
                out.append(f"  • {text[:150]}\n")
            for text in list(v.reflections)[-3:]:
                out.append("  ✦ ", style="magenta")
                out.append(f"{text[:150]}\n", style="italic")
        else:
            out.append(NOT_ENABLED + "\n", style="dim")
        out.append("theory of mind: ", style="bold")
        if state.tom_enabled:
            if v.tom_self:
                readouts = "  ".join(f"{k} {no_minus_zero(x):.2f}" for k, x in sorted(v.tom_self.items()))
                out.append(f"{readouts} (as others see it)", style="dim")
            out.append("\n")
            out.append_text(heat_map(v.tom))
        else:
            out.append(NOT_ENABLED, style="dim")
        summary = state.tally.lines(name)
        if summary:
            out.append("\nsummary so far\n", style="bold")
            for line in summary:
                out.append(f"  {line}\n", style="dim")
        self.update(out)


class MetricsPanel(Static):
    """Draws what the game's `view.panel` declares: a chart per owner with reference lines, sparklines,
    last-round values. It knows no game."""

    def __init__(self, colour: Palette, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.colour = colour

    def show(self, state: SocietyState, width: int = 40) -> None:
        m = state.metrics
        panel = m.view.panel
        if panel is None or m.empty:
            self.update(Text("scenario metrics: none in this run yet", style="dim"))
            return
        out = Text(panel.title, style="bold")
        legend = [(owner, self.colour(owner)) for owner in m.owners]
        for owner, style in legend:
            out.append(f"  {owner[:1]} {owner}", style=style)
        if len(legend) > 1:
            out.append("  * several", style="bold white")
        lines = m.lines()
        for (mark, label, x), style in zip(lines, LINE_STYLES, strict=False):
            out.append(f"  {mark} {label} {x:.3f}", style=style)
        out.append("\n")
        if panel.chart is not None:
            out.append_text(
                series_chart(
                    m.chart,
                    [(mark, x) for mark, _, x in lines],
                    width=width,
                    height=7,
                    colours=dict(legend),
                    empty=f"no {panel.chart.name} yet",
                )
            )
        for series in panel.sparks:
            values = m.sparks.get(series.key)
            out.append(f"\n{series.name} ", style="bold")
            if values:
                lo = series.lo if series.lo is not None else min(values)
                hi = series.hi if series.hi is not None else max(values)
                out.append(spark(values, lo, hi, width), style="cyan")
                out.append(f"  {no_minus_zero(values[-1], 3):+.3f}" + (f"  ({series.note})" if series.note else ""))
            else:
                out.append("—", style="dim")
        for series in panel.last:
            values = m.last.get(series.key)
            if values:
                shown = ", ".join(f"{k} {x:.3f}" for k, x in values.items())
                out.append(f"\n{series.name} last round: {shown}", style="dim")
        self.update(out)


class StatusBar(Static):
    pass
