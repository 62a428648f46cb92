"""The Textual app: watch a society live (driving its Run in the same event loop) or replay its log.

Events reach the UI only through a `Feed`'s deque; a timer drains it at `refresh_hz`, folds the batch
into the `SocietyState`, then redraws each panel at most once. The run never waits for the UI.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from sociallm.environments.view import view_of
from sociallm.orchestration.run import Run, RunResult
from sociallm.runtime.events import PUBLIC
from sociallm.tui.feed import Feed
from sociallm.tui.screens import HelpScreen, PromptScreen, QuitScreen
from sociallm.tui.state import SocietyState
from sociallm.tui.widgets import AgentDetail, AgentsTable, ConversationPane, MetricsPanel, StatusBar

CSS = """
#main { height: 1fr; }
#conversation { width: 1fr; border: round $primary; }
#side { width: 1fr; }
#agents { height: auto; max-height: 12; border: round $primary; overflow-x: hidden; }
RichLog { overflow-x: hidden; }
#detail { height: 1fr; border: round $primary; padding: 0 1; overflow-y: auto; }
#metrics { height: auto; border: round $primary; padding: 0 1; }
#status { height: 1; background: $boost; padding: 0 1; }
"""


def describe_backend(info: Any) -> str:
    if not isinstance(info, dict) or not info:
        return "?"
    parts = [str(info.get("kind", "?"))]
    for key in ("model", "dialect", "url"):
        if info.get(key):
            parts.append(str(info[key]))
            break
    return " ".join(parts)


class SocietyApp(App[RunResult | None]):
    TITLE = "SociaLLM"
    CSS = CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "pause/resume"),
        Binding("n", "step", "step"),
        Binding("i", "inject", "inject"),
        Binding("f", "filter", "filter"),
        Binding("c", "next_channel", "channel"),
        Binding("tab", "select_agent(1)", "next agent", show=False, priority=True),
        Binding("shift+tab", "select_agent(-1)", "previous agent", show=False, priority=True),
        Binding("s", "screenshot", "screenshot"),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit_app", "quit"),
    ]

    def __init__(
        self,
        feed: Feed,
        *,
        run: Run | None = None,
        run_dir: Path | None = None,
        backend: str = "",
        rounds_total: int | None = None,
        agents: list[str] | None = None,
        refresh_hz: float = 15.0,
        max_batch: int = 5000,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.run_obj = run
        self.run_dir = run_dir or (run.run_dir if run else None)
        self.backend = backend
        self.rounds_total = rounds_total or (run.spec.rounds if run else None)
        self.state = SocietyState(agents or (run.spec.agent_names if run else None), view_of(run.env) if run else None)
        self.refresh_hz = refresh_hz
        self.max_batch = max_batch
        self.result: RunResult | None = None
        self.run_error: BaseException | None = None
        self._drawn = 0  # lines of state.lines already written to the conversation
        self._window: deque[tuple[float, int, int]] = deque()
        self._run_worker: Worker[RunResult] | None = None
        self._quit_after_run = False
        self._status_markup = ""
        self._backend_known = False
        self.ticks = 0  # drain ticks that had events: the number of redraws
        self.max_tick_s = 0.0  # the slowest drain tick (fold + redraw), for the load test

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        conversation = ConversationPane(id="conversation")
        with Horizontal(id="main"):
            yield conversation
            with Vertical(id="side"):
                yield AgentsTable(conversation.colour, id="agents")
                yield AgentDetail(id="detail")
                yield MetricsPanel(conversation.colour, id="metrics")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#conversation").border_title = "conversation"
        self.query_one("#agents").border_title = "agents"
        self.query_one("#detail").border_title = "agent"
        self.query_one("#metrics").border_title = "scenario metrics"
        self.query_one(AgentsTable).focus()
        for problem in self.feed.problems[:3]:
            self.notify(problem, severity="warning")
        self.run_worker(self.feed.pump(), name="feed", exit_on_error=False)
        if self.run_obj is not None:
            self._run_worker = self.run_worker(self._execute(), name="run", exit_on_error=False)
        self.set_interval(1.0 / self.refresh_hz, self.drain)
        self._redraw_status()

    async def _execute(self) -> RunResult:
        assert self.run_obj is not None
        try:
            self.result = await self.run_obj.execute()
        except Exception as exc:
            self.run_error = exc
            self.notify(f"the run failed: {exc}", severity="error", timeout=30)
            raise
        # No toast: it covered the metrics panel; the status bar says how the run ended.
        self._redraw_status()
        return self.result

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._run_worker and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            await self.drain()
            if self._quit_after_run:
                self.exit(self.result)

    # -- the drain tick --------------------------------------------------------------------------
    async def drain(self) -> None:
        if not self.is_running or not self.query(ConversationPane):
            return  # shutting down: a last timer tick finds the widgets already gone
        batch = self.feed.drain(self.max_batch)
        now = time.monotonic()
        tokens_before = self.state.tokens
        if batch:
            t0 = time.perf_counter()
            for ev in batch:
                self.state.apply(ev)
            await self._redraw()
            self.ticks += 1
            self.max_tick_s = max(self.max_tick_s, time.perf_counter() - t0)
        self._window.append((now, len(batch), self.state.tokens - tokens_before))
        while self._window and now - self._window[0][0] > 2.0:
            self._window.popleft()
        self._redraw_status()

    async def _redraw(self) -> None:
        st = self.state
        conversation = self.query_one(ConversationPane)
        conversation.colour.quiet(st.not_agents)
        for channel in st.channels:
            await conversation.ensure_channel(channel)
        drawn, self._drawn = self._drawn, len(st.lines)
        # A label for a line not drawn yet costs nothing (it is drawn with it); one that comes after
        # its line was drawn means redrawing that channel once this tick.
        late = {line.channel for line in st.relabelled if line.index < drawn}
        st.relabelled = []
        if late:
            conversation.rebuild(st, late)
        else:
            conversation.write(st.lines[drawn:])
        table = self.query_one(AgentsTable)
        if st.dirty_agents:
            dirty, st.dirty_agents = set(st.dirty_agents), set()
            table.refresh_agents(st, dirty)
            self._show_detail()
        if st.metrics_dirty:
            st.metrics_dirty = False
            metrics = self.query_one(MetricsPanel)
            metrics.show(st, width=max(20, metrics.size.width - 12))

    def _show_detail(self) -> None:
        self.query_one(AgentDetail).show(self.state, self.query_one(AgentsTable).selected())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def rates(self) -> tuple[float, float]:
        if len(self._window) < 2:
            return 0.0, 0.0
        span = max(self._window[-1][0] - self._window[0][0], 1e-6)
        events = sum(n for _, n, _ in list(self._window)[1:])
        tokens = sum(t for _, _, t in list(self._window)[1:])
        return events / span, tokens / span

    def run_state(self) -> str:
        if self.run_obj is not None:
            if self.result is not None:
                return self.result.status
            if self.run_error is not None:
                return "failed"
            if self.run_obj.control.stop_requested:
                return "stopping"
            if self.run_obj.control.paused:
                # Pausing waits for the round in play: say so until it has ended.
                return "paused" if self.run_obj.rounds_completed >= self.state.round else "pausing"
            return "running"
        if self.feed.paused:
            return "paused"
        return self.state.status or ("done" if self.feed.finished else "running")

    def _redraw_status(self) -> None:
        if not self.query(StatusBar):
            return
        if self.run_obj is not None and self.run_obj.llm is not None and not self._backend_known:
            self._backend_known = True  # the model is up: name it as the manifest will
            self.backend = describe_backend(self.run_obj.llm.describe()) or self.backend
        ev_s, tok_s = self.rates()
        st = self.state
        state = self.run_state()
        icons = {"running": "▶", "paused": "⏸", "pausing": "⏸", "completed": "✓", "stopping": "■", "stopped": "■"}
        icon = icons.get(state, "•")
        total = f"/{self.rounds_total}" if self.rounds_total else ""
        out = Text()
        out.append(f" {icon} {state} ", style="bold reverse")
        out.append(f"  round {st.round}{total}   {ev_s:5.0f} ev/s   {tok_s:6.0f} tok/s   ")
        out.append(f"{st.events:,} events  {st.tokens:,} tokens   backend: {self.backend or '?'}   ")
        if self.feed.live and self.run_obj is not None and (self.result is not None or self.run_error is not None):
            # The run is over: no longer "live"; say what is left to do here.
            rounds = self.result.rounds_completed if self.result is not None else self.run_obj.rounds_completed
            out.append(f"run ended after {rounds} rounds; q quits", style="dim")
        else:
            out.append(self.feed.describe(), style="dim")
        if self.query_one(ConversationPane).filter:
            out.append(f"   filter: {self.query_one(ConversationPane).filter}", style="yellow")
        if self.feed.pending:
            out.append(f"   backlog {self.feed.pending}", style="dim")
        if out.markup != self._status_markup:  # an idle UI repaints nothing
            self._status_markup = out.markup
            self.query_one(StatusBar).update(out)

    # -- actions ---------------------------------------------------------------------------------
    def _live_only(self, what: str) -> bool:
        if self.run_obj is None:
            self.notify(f"{what} needs a live run (sociallm run SCENARIO --tui); this is {self.feed.mode}")
            return False
        if self.result is not None or self.run_error is not None:
            self.notify(f"{what}: the run has ended")
            return False
        return True

    def action_toggle_pause(self) -> None:
        if self.run_obj is None:
            self.feed.paused = not self.feed.paused
        elif self._live_only("pause"):
            control = self.run_obj.control
            if control.paused:
                control.resume()
            else:
                control.pause()
                self.notify("pausing: the current round finishes first")
        self._redraw_status()

    def action_step(self) -> None:
        if not self._live_only("step"):
            return
        control = self.run_obj.control  # type: ignore[union-attr]
        if not control.paused:
            self.notify("step plays one round while paused: press space first")
            return
        control.step()

    def action_inject(self) -> None:
        if not self._live_only("inject"):
            return
        channel = self.query_one(ConversationPane).active_channel() or PUBLIC

        async def done(text: str | None) -> None:
            if not text or not text.strip():
                return
            try:
                await self.run_obj.control.inject(text, channel)  # type: ignore[union-attr]
            except (RuntimeError, ValueError) as exc:
                self.notify(f"inject: {exc}", severity="error")

        self.push_screen(PromptScreen(f"Message to [b]#{channel}[/b] as the moderator:", "your message"), done)

    def action_filter(self) -> None:
        conversation = self.query_one(ConversationPane)

        def done(text: str | None) -> None:
            if text is None:
                return
            conversation.filter = text.strip() or None
            conversation.rebuild(self.state)
            self._redraw_status()

        names = ", ".join([*self.state.channels, *self.state.agents])
        title = f"Show only messages of a channel or agent ({names}); empty clears:"
        self.push_screen(PromptScreen(title, value=conversation.filter or ""), done)

    def action_next_channel(self) -> None:
        self.query_one(ConversationPane).cycle()

    def action_select_agent(self, delta: int) -> None:
        table = self.query_one(AgentsTable)
        if table.row_count:
            table.move_cursor(row=(table.cursor_row + delta) % table.row_count)

    def action_screenshot(self) -> None:
        folder = self.run_dir or Path.cwd()
        name = f"tui-{time.strftime('%Y%m%d-%H%M%S')}.svg"
        path = self.save_screenshot(name, path=str(folder))
        self.notify(f"screenshot saved: {path}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        # ctrl+q too goes through the question: a run must not be torn down mid-round unasked.
        await self.action_quit_app()

    async def action_quit_app(self) -> None:
        if self._run_worker is None or self._run_worker.is_finished:
            self.exit(self.result)
            return

        async def answer(choice: str | None) -> None:
            if choice == "stop":
                self._quit_after_run = True
                self.run_obj.control.stop()  # type: ignore[union-attr]
                self.notify("stopping after the current round…")
            elif choice == "kill" and self._run_worker is not None:
                self._run_worker.cancel()
                with contextlib.suppress(Exception):
                    await self._run_worker.wait()
                self.exit(self.result)

        self.push_screen(QuitScreen(), answer)
