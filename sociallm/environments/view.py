"""What an environment declares about how its game is shown: the TUI panel, report plots, headline metrics.

An environment class sets `view = GameView(...)` next to its rules. The TUI (`tui/state.py`,
`tui/widgets.py`), run and sweep reports (`reports/`) and the sweep's summary render what it declares
and know no game by name. Everything is read from events: per-round numbers from the game's `outcome`
payloads, reference lines from its `benchmarks` system event, which the environment computes at reset
from its own parameters, so every run (every condition of a sweep) carries its own lines.

    view = GameView(
        sources=("market",),                                     # event sources that are not agents
        panel=Panel(title="prices", chart=Series(key="prices", label="price", per_agent=True),
                    lines=[Reference(key="nash_price", label="Nash", mark="N")]),
        plots=[Plot(file="prices.png", title="Prices", axes=[Axis(series=[...], lines=[...])])],
        metrics=[Metric(key="mean_delta", label="Δ", headline=True)],
    )
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Series(_Frozen):
    """One number per round read from the game's outcome payloads: `payload[key]` is a number, or (with
    `per_agent`) a dict of agent -> number."""

    key: str
    label: str = ""
    per_agent: bool = False
    lo: float | None = None  # a fixed scale (e.g. Δ from 0 to 1); None: the data's range
    hi: float | None = None
    note: str = ""  # what the scale means, e.g. "0 Nash, 1 monopoly"
    style: Literal["line", "step", "cumulative_rate"] = "line"

    @property
    def name(self) -> str:
        return self.label or self.key


class Reference(_Frozen):
    """A horizontal line at a value of the run's `benchmarks` event (or a constant)."""

    key: str = ""
    label: str = ""
    value: float | None = None  # a constant instead of a benchmark (e.g. a collapse threshold)
    mark: str = "┄"  # the TUI's letter for it in the chart

    def resolve(self, benchmarks: dict[str, Any]) -> float | None:
        if self.value is not None:
            return self.value
        x = benchmarks.get(self.key)
        return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


class Panel(_Frozen):
    """The TUI's scenario panel: a chart of one per-agent series with reference lines, sparklines of
    market-level series, and the last round's values of others."""

    title: str
    chart: Series | None = None
    lines: list[Reference] = []
    sparks: list[Series] = []
    last: list[Series] = []  # shown as "label last round: a x, b y"


class Axis(_Frozen):
    series: list[Series]
    lines: list[Reference] = []
    ylabel: str = ""


class Plot(_Frozen):
    """One PNG of a run report: stacked axes sharing the round axis."""

    file: str
    title: str
    axes: list[Axis]


class Metric(_Frozen):
    """A run-level metric of `metrics()`.

    `comparable=False`: its scale depends on the parameters (a price under a price scale α), so a sweep
    whose conditions differ in their benchmarks flags it; with `normalise=(lo, hi)` the sweep also shows
    (x − lo)/(hi − lo), lo and hi being that run's own metrics of those names (e.g. its Nash and
    monopoly prices)."""

    key: str
    label: str = ""
    headline: bool = False
    comparable: bool = True
    normalise: tuple[str, str] | None = None
    lo: float | None = None  # reference lines of its by-condition plot
    hi: float | None = None

    @property
    def name(self) -> str:
        return self.label or self.key


class Table(_Frozen):
    """A per-round table of a run report (outcome payload keys as columns)."""

    title: str
    keys: list[str]


class GameView(_Frozen):
    sources: tuple[str, ...] = ()
    panel: Panel | None = None
    plots: list[Plot] = []
    tables: list[Table] = []
    metrics: list[Metric] = []
    # Per-round outcome series a sweep report draws by condition (first three), with their lines.
    curves: list[Axis] = []

    @property
    def headline(self) -> list[Metric]:
        return [m for m in self.metrics if m.headline]

    def metric(self, key: str) -> Metric | None:
        return next((m for m in self.metrics if m.key == key), None)


EMPTY = GameView()


def view_of(environment: Any) -> GameView:
    """An environment's (class or instance) declared view; a game without one shows no panel or plots."""
    view = getattr(environment, "view", None)
    return view if isinstance(view, GameView) else EMPTY


def benchmarks_of(events: list[Any]) -> dict[str, Any]:
    """The payload of a run's (last) benchmarks event: the reference values from its own parameters."""
    out: dict[str, Any] = {}
    for e in events:
        if e.kind == "system" and e.payload.get("event") == "benchmarks":
            out = dict(e.payload)
    return out
