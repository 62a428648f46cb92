"""Modal screens: help, a one-line prompt (inject, filter), and the quit question."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

MODAL_CSS = """
ModalScreen { align: center middle; }
ModalScreen > Vertical { width: 80; height: auto; border: round $accent; background: $surface; padding: 1 2; }
"""

HELP = """\
[b]SociaLLM — watching a society[/b]

  [b]space[/b]   pause / resume the run (takes effect between rounds)
  [b]n[/b]       play one round while paused
  [b]i[/b]       inject a message as the moderator into the current channel tab
  [b]f[/b]       filter the conversation by channel or agent (empty: clear)
  [b]c[/b]       next channel tab
  [b]↑ ↓[/b] / [b]tab[/b]  select an agent (its detail is shown on the right)
  [b]s[/b]       save a screenshot (SVG) into the run folder
  [b]?[/b]       this help
  [b]q[/b]       quit (a live run asks whether to stop it; a stopped run can be resumed)

In [b]watch[/b] mode space pauses the replay; step and inject need a live run (sociallm run --tui).
Panels of subsystems that logged nothing say "not enabled in this run".

[dim]escape closes this help[/dim]"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss(None)", "close")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(HELP)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; enter gives it, escape gives None."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text)
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt")
            yield Static("[dim]enter: ok · escape: cancel[/dim]")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)


class QuitScreen(ModalScreen[str | None]):
    """'stop' (after this round), 'kill' (now), or None (stay)."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s,y", "dismiss('stop')", "stop after this round"),
        Binding("k", "dismiss('kill')", "quit now"),
        Binding("escape,n,c", "dismiss(None)", "cancel"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "[b]The run is still playing.[/b]\n\n"
                "  [b]s[/b]  stop it after the current round, then quit (resume later with "
                "[i]sociallm run --resume[/i])\n"
                "  [b]k[/b]  quit now: the unfinished round is dropped, the run resumes from the last one\n"
                "  [b]escape[/b]  keep watching"
            )
