"""Agent kinds: `llm` (the language-model agent) and algorithmic ones.

A scenario picks an agent's kind and its options:

    agents:
      - name: Alice
        kind: q_learning            # llm (default), q_learning, fixed, tit_for_tat, grim_trigger, best_response
        options: {alpha: 0.15, beta: 4.0e-6, pretrain: true}

Each kind's options are a pydantic model (its `Config`), validated with the scenario.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sociallm.agents.agent import Agent
from sociallm.agents.sections import build_sections
from sociallm.runtime import registry
from sociallm.runtime.scenario import LLM_KIND as LLM
from sociallm.runtime.scenario import check_kind, known_kinds

if TYPE_CHECKING:
    from sociallm.agents.sections import SectionContext

# The kinds are registered in the `sociallm.agent_kinds` registry (runtime/registry.py); each class
# carries its options model as `Config`, which the scenario validator checks.
__all__ = ["LLM", "build_agent", "check_kind", "known_kinds"]


def build_agent(ctx: SectionContext, rules: str) -> Any:
    """The agent a run plays with: a language-model `Agent`, or an algorithmic one."""
    kind = getattr(ctx.agent, "kind", LLM)
    if kind == LLM:
        # The run's shared transcript, when it keeps one (see agents/transcript.py).
        transcript = ctx.shared.get("transcript")
        return Agent(ctx.agent, ctx.scenario, rules, ctx.llm, build_sections(ctx), transcript=transcript)
    agent_cls = registry.load(registry.AGENT_KINDS, kind, f"agents.{ctx.agent.name}.kind")
    return agent_cls(ctx, agent_cls.Config.model_validate(getattr(ctx.agent, "options", {}) or {}))
