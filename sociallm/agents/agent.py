"""The agent's cognitive loop: observe events, build a prompt, generate, return an event.

Affect, theory of mind and memory plug in as `PromptSection`s (see sections.py): each sees every
event the agent sees, may do async work before a turn (retrieval, a batched state step), contributes
a block of text between the stable prefix and the recent transcript, and may react to the agent's
own published event. The agent never publishes by itself: `act`
returns the event and the scheduler publishes it, so the same agent can live behind a remote bus.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sociallm.agents.prompts import clean_reply, stable_prefix, talk_cue
from sociallm.agents.sections import PromptSection
from sociallm.agents.talk_suffix import Folded, TalkSuffix, split_suffix
from sociallm.agents.transcript import Transcript
from sociallm.backbone.base import (
    LLM,
    ChoiceConstraint,
    GenerationRequest,
    GenerationResult,
    NumberConstraint,
    supports,
)
from sociallm.backbone.constraints import parse_number
from sociallm.runtime.events import Event, make_event
from sociallm.runtime.metered import PromptTooLong
from sociallm.runtime.scenario import AgentSpec, ScenarioSpec
from sociallm.runtime.turn import ActionSpec, Turn


def derive_seed(*parts: Any) -> int:
    """A seed from the run seed and the turn's coordinates, stable across processes and Python runs."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


# Stop strings and reply repairs name every member of the channel up to this many; beyond it, the
# speakers in the agent's transcript window (the names a model can copy from its prompt).
NAMED_MEMBERS = 32


class Agent:
    def __init__(
        self,
        spec: AgentSpec,
        scenario: ScenarioSpec,
        rules: str,
        llm: LLM,
        sections: list[PromptSection] | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.scenario = scenario
        self.llm = llm
        self.sections = sections or []
        self.prefix = stable_prefix(scenario, spec, rules)
        # Shared, read-only lookups (one per scenario): an idle agent holds no per-agent copy of the
        # village's channel and name lists.
        self._index = scenario.index
        self._channels = self._index.channels_of(self.name)
        # The run's shared transcript (fed by one tap); a worker's agent keeps and feeds its own.
        self.owns_transcript = transcript is None
        self.transcript = transcript if transcript is not None else Transcript(scenario)
        # Whether `observe` has anything to do: the run skips agents that would only drop the event.
        self.observes = self.owns_transcript or bool(self.sections)
        self.backbone = scenario.backbone

    @property
    def history(self) -> list[str]:
        """The recent transcript lines this agent reads, oldest first."""
        return [line for _, line, _ in self.transcript.view(self.name)]

    # -- perception ---------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        if not event.visible_to(self.name):
            return
        if event.kind == "message" and event.channel not in self._channels:
            return
        for section in self.sections:
            section.observe(event)
        if self.owns_transcript:
            self.transcript.add(event)

    def _others(self, channel: str, window: list[tuple[int, str, str]]) -> list[str]:
        """Other agents a reply must not speak for: the channel's members when it is small, and whoever
        speaks in the window; in scenario order, so requests are the same in every run of a seed."""
        members = self._index.members.get(channel, ())
        names = set(members) if len(members) <= NAMED_MEMBERS else set()
        names.update(s for _, _, s in window if s)
        names.discard(self.name)
        order = self._index.order
        return sorted((n for n in names if n in order), key=order.__getitem__)

    # -- action -------------------------------------------------------------------------------
    def prompt(self, turn: Turn, cue: str, window: list[tuple[int, str, str]] | None = None) -> str:
        dynamic = [s.render(turn) for s in self.sections]
        notes = "\n".join(d for d in dynamic if d)
        if window is None:
            window = self.transcript.view(self.name)
        body = "\n".join(line for _, line, _ in window)
        text = f"{self.prefix}\n{notes + chr(10) if notes else ''}{body}\n{cue}"
        limit = getattr(self.backbone, "max_prompt_chars", None)
        if limit is not None and len(text) > limit:
            parts = {
                "the fixed prefix (preamble, persona, goals, private notes, rules)": len(self.prefix),
                f"the transcript (the last {self.transcript.lines} lines, agent.history_lines)": len(body),
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
        window = self.transcript.view(self.name)
        prompt = self.prompt(turn, cue, window)
        others = self._others(phase.channel, window)
        stops = ['"', "\n"] + [f"{n}:" for n in others]
        max_tokens = phase.max_tokens or self.backbone.max_tokens
        options: dict[str, Any] = {"max_tokens": max_tokens, "stop": stops}
        # A section's label folded into this call; `suffix` stays None where the backend cannot enforce it.
        asker, suffix = self._folding()
        if suffix is not None and not supports(self.llm, suffix.constraint()):
            suffix = None
        if suffix is not None:
            # The grammar closes the quote and forbids newlines, so those two stops would cut the suffix off.
            options = {"max_tokens": max_tokens + suffix.tokens, "stop": stops[2:], "constraint": suffix.constraint()}
        repairs: list[str] = []
        text, raw, result = "", "", None
        tail, word, why = "", None, "the backend cannot enforce a suffix"  # the folded label, if any
        for attempt in range(2):
            req = self._request(
                turn, prompt, attempt, purpose="talk", repetition_guard=self.backbone.repetition_guard, **options
            )
            (result,) = await self.llm.generate([req])
            raw = result.text
            if suffix is not None:
                raw, tail, word, why = split_suffix(raw, suffix, result.finish_reason)
            text, fixes = clean_reply(
                raw, self.name, others, self.scenario.agent.max_reply_chars, result.finish_reason == "length"
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
        if asker is not None:
            asker.take_suffix(Folded(text=payload["text"], label=word, raw=tail, why=why))
        return make_event("message", self.name, channel=phase.channel, to=to, tick=turn.tick, payload=payload)

    def _folding(self) -> tuple[Any, TalkSuffix | None]:
        """The first section that wants its label folded into this talk call, and the suffix it asks for."""
        for section in self.sections:
            ask = getattr(section, "talk_suffix", None)
            suffix = ask() if ask is not None else None
            if suffix is not None:
                return section, suffix
        return None, None

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
        return make_event("action", self.name, channel="public", to=[self.name], tick=turn.tick, payload=payload)

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
        out: dict[str, Any] = {"sections": {s.name: s.state() for s in self.sections}}
        if self.owns_transcript:  # a shared transcript is checkpointed once, by the run
            out["transcript"] = self.transcript.state()
            out["history"] = self.history  # readable lines, as checkpoints always had them
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        if self.owns_transcript:
            if "transcript" in state:
                self.transcript.load_state(state["transcript"])
            elif "history" in state:  # a checkpoint from before transcripts were windows
                self.transcript.load_lines(self.name, list(state["history"]))
        saved = state.get("sections", {})
        for s in self.sections:
            if s.name in saved:
                s.load_state(saved[s.name])
