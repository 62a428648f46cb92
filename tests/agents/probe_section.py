"""A section for testing the plug-in seam: records what it is given, renders a note."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.runtime.events import Event


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = "probe"
    level: int = 1


class Probe(BaseSection):
    name = "probe"

    def __init__(self, ctx: SectionContext, config: Config) -> None:
        self.ctx = ctx
        self.config = config
        self.seen: list[tuple[str, str]] = []
        self.prepared = 0
        self.after: list[str] = []

    def observe(self, event: Event) -> None:
        self.seen.append((event.kind, event.source))

    async def prepare(self, turn: Any) -> None:
        self.prepared += 1

    def render(self, turn: Any) -> str:
        return f"[{self.config.note} level {self.config.level}]"

    async def after_act(self, event: Event) -> None:
        self.after.append(event.kind)
        await self.ctx.emit(Event(kind="affect", source=self.ctx.agent.name, tick=event.tick, payload={"of": event.id}))

    def state(self) -> dict[str, Any]:
        return {"prepared": self.prepared}

    def load_state(self, state: dict[str, Any]) -> None:
        self.prepared = state["prepared"]


def build(ctx: SectionContext, config: Config) -> Probe:
    return Probe(ctx, config)
