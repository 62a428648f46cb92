"""The agent's cognitive loop: observe events, build a prompt, generate, return an event.

Affect, theory of mind and memory plug in as `PromptSection`s (see sections.py): each sees every
event the agent sees, may do async work before a turn (retrieval, a batched state step), contributes
a block of text between the stable prefix and the recent transcript, and may react to the agent's
own published event. The agent never publishes by itself: `act`
returns the event and the scheduler publishes it, so the same agent can live behind a remote bus.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any

from sociallm.agents.prompts import clean_reply, render_event, stable_prefix, talk_cue
from sociallm.agents.sections import PromptSection
from sociallm.backbone.base import (
    LLM,
    ChoiceConstraint,
    GenerationRequest,
    GenerationResult,
    NumberConstraint,
)
from sociallm.backbone.constraints import parse_number
from sociallm.runtime.events import Event
from sociallm.runtime.metered import PromptTooLong
from sociallm.runtime.scenario import AgentSpec, ScenarioSpec
from sociallm.runtime.turn import ActionSpec, Turn


def derive_seed(*parts: Any) -> int:
    """A seed from the run seed and the turn's coordinates, stable across processes and Python runs."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


_TRANSCRIPT_KINDS = frozenset({"message", "observation", "outcome", "action", "system"})


class Agent:
    def __init__(
        self,
        spec: AgentSpec,
        scenario: ScenarioSpec,
        rules: str,
        llm: LLM,
        sections: list[PromptSection] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.scenario = scenario
        self.llm = llm
        self.sections = sections or []
        self.prefix = stable_prefix(scenario, spec, rules)
        self._others = [n for n in scenario.agent_names if n != self.name]
        self._channels = {c.name for c in scenario.channels if c.members == "all" or self.name in c.members}
        self._private = {c.name for c in scenario.channels if c.private}
        self._history: deque[str] = deque(maxlen=scenario.agent.history_lines)
        self.backbone = scenario.backbone

    # -- perception ---------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        if not event.visible_to(self.name):
            return
        if event.kind == "message" and event.channel not in self._channels:
            return
        for section in self.sections:
            section.observe(event)
        if event.kind in _TRANSCRIPT_KINDS:
            line = render_event(event, self.name, self._private)
            if line is not None:
                self._history.append(line)

    # -- action -------------------------------------------------------------------------------
    def prompt(self, turn: Turn, cue: str) -> str:
        dynamic = [s.render(turn) for s in self.sections]
        notes = "\n".join(d for d in dynamic if d)
        body = "\n".join(self._history)
        text = f"{self.prefix}\n{notes + chr(10) if notes else ''}{body}\n{cue}"
        limit = getattr(self.backbone, "max_prompt_chars", None)
        if limit is not None and len(text) > limit:
            parts = {
                "the fixed prefix (preamble, persona, goals, private notes, rules)": len(self.prefix),
                f"the transcript (the last {self._history.maxlen} lines, agent.history_lines)": len(body),
            }
            for section, block in zip(self.sections, dynamic, strict=True):
                parts[f"the {section.name} section (sections.{section.name})"] = len(block)
            grew = max(parts, key=lambda k: parts[k])
            raise PromptTooLong(
                f"{self.name}'s prompt for {turn.phase.name} in round {turn.tick} is {len(text):,} characters, over "
                f"backbone.max_prompt_chars ({limit:,}); {grew} takes {parts[grew]:,} of them"
            )
        return text

    def _request(self, turn: Turn, prompt: str, attempt: int, **kw: Any) -> GenerationRequest:
        temperature = self.spec.temperature if self.spec.temperature is not None else self.backbone.temperature
        # A section may modulate sampling (e.g. emotion: arousal raises temperature, off by default).
        temperature += sum(f(turn) for s in self.sections if (f := getattr(s, "temperature_shift", None)))
        return GenerationRequest(
            prompt=prompt,
            temperature=max(0.0, min(2.0, temperature + 0.2 * attempt)),
            seed=derive_seed(self.scenario.seed, self.name, turn.tick, turn.phase.name, turn.turn_index, attempt),
            model=self.spec.model,
            agent=self.name,
            **kw,
        )

    async def act(self, turn: Turn) -> Event:
        for section in self.sections:
            await section.prepare(turn)
        if turn.phase.kind == "talk":
            return await self._talk(turn)
        assert turn.action is not None, "act phases carry the environment's ActionSpec"
        return await self._decide(turn, turn.action)

    async def after_act(self, event: Event) -> None:
        """Called once the agent's own event is published (sections may react, e.g. label its affect)."""
        for section in self.sections:
            await section.after_act(event)

    async def _talk(self, turn: Turn) -> Event:
        phase = turn.phase
        members = self.scenario.members(phase.channel)
        private = self.scenario.channel(phase.channel).private
        cue = talk_cue(self.name, phase.channel, members, private)
        prompt = self.prompt(turn, cue)
        stops = ['"', "\n"] + [f"{n}:" for n in self._others]
        max_tokens = phase.max_tokens or self.backbone.max_tokens
        repairs: list[str] = []
        text, raw, result = "", "", None
        for attempt in range(2):
            req = self._request(
                turn,
                prompt,
                attempt,
                max_tokens=max_tokens,
                stop=stops,
                purpose="talk",
                repetition_guard=self.backbone.repetition_guard,
            )
            (result,) = await self.llm.generate([req])
            raw = result.text
            text, fixes = clean_reply(
                raw, self.name, self._others, self.scenario.agent.max_reply_chars, result.finish_reason == "length"
            )
            repairs += fixes
            if text:
                break
            repairs.append(f"attempt {attempt + 1}: empty reply, asked again")
        payload: dict[str, Any] = {"text": text or "…", "raw": raw, "phase": phase.name}
        if not text:
            payload["silent"] = True
        if repairs:
            payload["repairs"] = repairs
        to = [] if not private else [m for m in members if m != self.name]
        return Event(kind="message", source=self.name, channel=phase.channel, to=to, tick=turn.tick, payload=payload)

    async def _decide(self, turn: Turn, spec: ActionSpec) -> Event:
        cue = spec.cue.format(agent=self.name, name=spec.name, tick=turn.tick)
        prompt = self.prompt(turn, cue)
        if spec.kind == "choice":
            constraint: Any = ChoiceConstraint(options=spec.options)
        else:
            constraint = NumberConstraint(min=spec.min, max=spec.max, decimals=spec.decimals)
        payload: dict[str, Any] = {"action": spec.name, "phase": turn.phase.name}
        repairs: list[str] = []
        result: GenerationResult | None = None
        for attempt in range(2):
            req = self._request(
                turn, prompt, attempt, max_tokens=16, stop=["\n"], constraint=constraint, purpose=spec.name
            )
            (result,) = await self.llm.generate([req])
            try:
                value, changed = self._parse(result.text, spec)
            except ValueError as exc:
                repairs.append(f"attempt {attempt + 1}: {exc}; asked again")
                continue
            if changed:
                repairs.append(f"{result.text.strip()!r} repaired to {value} (range {spec.min}–{spec.max})")
            shown = value if spec.kind == "choice" else f"{spec.unit}{value:.{spec.decimals}f}"
            payload.update(value=value, shown=shown, raw=result.text)
            break
        else:
            payload.update(value=None, raw=result.text if result else "", missing=True)
        if repairs:
            payload["repairs"] = repairs
        return Event(kind="action", source=self.name, channel="public", to=[self.name], tick=turn.tick, payload=payload)

    @staticmethod
    def _parse(text: str, spec: ActionSpec) -> tuple[Any, bool]:
        if spec.kind == "choice":
            t = text.strip()
            if t in spec.options:
                return t, False
            for opt in spec.options:
                if t.lower().startswith(opt.lower()):
                    return opt, True
            raise ValueError(f"{t!r} is not one of {spec.options}")
        return parse_number(text, NumberConstraint(min=spec.min, max=spec.max, decimals=spec.decimals))

    # -- checkpoints --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "history": list(self._history),
            "sections": {s.name: s.state() for s in self.sections},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._history.clear()
        self._history.extend(state.get("history", []))
        saved = state.get("sections", {})
        for s in self.sections:
            if s.name in saved:
                s.load_state(saved[s.name])
