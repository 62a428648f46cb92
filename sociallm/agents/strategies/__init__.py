"""Agent kinds: `llm` (the language-model agent) and algorithmic ones.

A scenario picks an agent's kind and its options:

    agents:
      - name: Alice
        kind: q_learning            # llm (default), q_learning, fixed, tit_for_tat, grim_trigger, best_response
        options: {alpha: 0.15, beta: 4.0e-6, pretrain: true}

Each kind's options are a pydantic model (its `Config`), validated with the scenario.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from sociallm.agents.sections import SectionContext

# kind -> (module, agent class, config class); imported only when a scenario uses the kind.
KINDS: dict[str, tuple[str, str, str]] = {
    "q_learning": ("sociallm.agents.strategies.qlearning", "QLearner", "QLearningConfig"),
    "fixed": ("sociallm.agents.strategies.scripted", "Fixed", "FixedConfig"),
    "tit_for_tat": ("sociallm.agents.strategies.scripted", "TitForTat", "TitForTatConfig"),
    "grim_trigger": ("sociallm.agents.strategies.scripted", "GrimTrigger", "GrimTriggerConfig"),
    "best_response": ("sociallm.agents.strategies.scripted", "BestResponse", "BestResponseConfig"),
}
LLM = "llm"


def known_kinds() -> list[str]:
    return [LLM, *KINDS]


def _load(kind: str) -> tuple[type, type]:
    module, cls, cfg = KINDS[kind]
    mod = importlib.import_module(module)
    return getattr(mod, cls), getattr(mod, cfg)


def check_kind(kind: str, options: dict[str, Any]) -> list[str]:
    """Problems with an agent's kind and options, each as `kind: ...` or `options.<field>: ...`."""
    if kind == LLM:
        return [f"options: a language-model agent takes no options (got {', '.join(options)})"] if options else []
    if kind not in KINDS:
        return [f"kind: unknown agent kind {kind!r}; known: {', '.join(known_kinds())}"]
    from sociallm.runtime.scenario import format_validation_error

    _, config = _load(kind)
    try:
        config.model_validate(options or {})
    except ValidationError as exc:
        return format_validation_error(exc, prefix="options", root=config)
    return []


def build_agent(ctx: SectionContext, rules: str) -> Any:
    """The agent a run plays with: a language-model `Agent`, or an algorithmic one."""
    kind = getattr(ctx.agent, "kind", LLM)
    if kind == LLM:
        from sociallm.agents.agent import Agent
        from sociallm.agents.sections import build_sections

        # The run's shared transcript, when it keeps one (see agents/transcript.py).
        transcript = ctx.shared.get("transcript")
        return Agent(ctx.agent, ctx.scenario, rules, ctx.llm, build_sections(ctx), transcript=transcript)
    agent_cls, config = _load(kind)
    return agent_cls(ctx, config.model_validate(getattr(ctx.agent, "options", {}) or {}))
