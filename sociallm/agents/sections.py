"""Cognitive parts that plug into an agent: emotion, memory, theory of mind.

A section sees every event visible to its agent (`observe`, synchronous and cheap: queue work
there), does its async work before the agent's turn (`prepare`: retrieval, batched model calls,
a state step), renders one block of the prompt between the stable prefix and the recent transcript
(`render`), and reacts to the agent's own published event (`after_act`: e.g. label its affect).
It publishes what it measures through `ctx.emit` and calls the model through `ctx.llm`, so every
call is accounted for. Two optional hooks let a section ride on the talk call instead of making its
own: `talk_suffix()` returns the constrained suffix it wants after the utterance (or None), and
`take_suffix(folded)` receives what came back (agents/talk_suffix.py; emotion's `self_label: folded`).
State goes into checkpoints through `state()` / `load_state()`.

A scenario turns sections on by name, with options, for all agents; an agent may override them:

    sections:
      emotion: {decay: 0.1}
    agents:
      - name: Alice
        sections: {emotion: {baseline_valence: 0.3}}

Each section module exposes `Config` (a pydantic model of its options) and
`build(ctx, config) -> PromptSection`; the `sociallm.sections` registry (runtime/registry.py: built-ins
and entry points) maps the scenario name to the module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sociallm.runtime.events import Event
from sociallm.runtime.resources import Need, RunResources, check_needs, provided
from sociallm.runtime.scenario import merged_options, section_module, section_order

if TYPE_CHECKING:
    from sociallm.backbone.base import LLM
    from sociallm.runtime.scenario import AgentSpec, ScenarioSpec
    from sociallm.runtime.turn import Turn

Emit = Callable[[Event], Awaitable[Any]]


@dataclass
class SectionContext:
    agent: AgentSpec
    scenario: ScenarioSpec
    llm: LLM
    emit: Emit
    run_dir: Path
    tick: Callable[[], int]
    # One per run, shared by every agent's sections (e.g. a single sentence encoder or ChromaDB client).
    shared: dict[str, Any] = field(default_factory=dict)
    # This agent's sections by name, filled once all are built (e.g. memory reads the emotion's affect).
    sections: dict[str, Any] = field(default_factory=dict)
    # The run's typed resources (environment, embeddings, ...); None only in bare unit-test contexts.
    resources: RunResources | None = None

    @property
    def environment(self) -> Any:
        """The run's environment (None in a bare context)."""
        return self.resources.environment if self.resources is not None else None

    def uses(self, need: Need) -> Any:
        """What meets an optional `need` of this section (a sibling section, the environment), or None."""
        return provided(need, self.resources, self.sections)


def section_context(resources: RunResources, agent: AgentSpec) -> SectionContext:
    """The context of one agent's sections: the same in the run process and in a worker."""
    return SectionContext(
        agent,
        resources.scenario,
        resources.llm,
        resources.emit,
        resources.run_dir,
        resources.tick,
        resources.cache,
        resources=resources,
    )


@runtime_checkable
class PromptSection(Protocol):
    name: str

    def observe(self, event: Event) -> None: ...

    async def prepare(self, turn: Turn) -> None: ...

    def render(self, turn: Turn) -> str: ...

    async def after_act(self, event: Event) -> None: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...

    async def aclose(self) -> None: ...


class BaseSection:
    """No-op defaults, so a section implements only the hooks it needs."""

    name = "section"

    def observe(self, event: Event) -> None:
        return None

    async def prepare(self, turn: Turn) -> None:
        return None

    def render(self, turn: Turn) -> str:
        return ""

    async def after_act(self, event: Event) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        return None

    async def aclose(self) -> None:
        return None


class SectionError(RuntimeError):
    """A section that cannot start (a missing checkpoint, an unreachable store): one line naming the option."""


def build_sections(ctx: SectionContext) -> list[PromptSection]:
    options = merged_options(ctx.scenario, ctx.agent)
    order = section_order()  # the registry's: built-ins (mood, others, memories, info), then plug-ins
    names = sorted(options, key=lambda n: order.index(n) if n in order else len(order))
    for name in names:
        module = section_module(name)
        config = module.Config.model_validate(options[name])
        try:
            ctx.sections[name] = module.build(ctx, config)
        except (ValueError, OSError) as exc:  # their messages already name the option and the fix
            raise SectionError(f"agents.{ctx.agent.name}: {exc}") from exc
    # What each section declares it needs (module-level `needs`), checked once all are built, so a
    # section may need a sibling built after it. A bare context (no resources) is a unit test's choice.
    if ctx.resources is not None:
        for name in names:
            needs = getattr(section_module(name), "needs", [])
            try:
                check_needs(f"agents.{ctx.agent.name}.sections.{name}", needs, ctx.resources, ctx.sections)
            except ValueError as exc:
                raise SectionError(str(exc)) from None
    return list(ctx.sections.values())
