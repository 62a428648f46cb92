"""The emotion section: a closed affect loop that colours what an agent says and remembers.

- Perceive: every message from someone else is appraised with the VADER lexicon (valence) and a
  text-intensity estimate (arousal), weighted by who said it; every outcome is appraised by the
  environment's optional `appraise(event, agent)` hook (see environments/base.py).
- Speak: the state is rendered into the prompt ("Alice feels wary (valence -0.32, arousal 0.61).").
- Self-label: the agent's own message gets a word of the vocabulary, and the label's coordinates pull
  the state (the closed loop). `self_label: separate` asks one constrained call once the message is
  published; `folded` asks for it inside the talk call, as a grammar-constrained suffix the agent strips
  (talk_suffix.py), and falls back to the separate call when the suffix is missing; `off` labels nothing.
- Between rounds the state decays toward the persona's baseline.

Every change is an `affect` event (private to the agent: others must not read its feelings for free).
The logic (vocabulary, updates, appraisal formulas) lives in affect.py; this file wires it to events.
`observe` only queues appraisals (it is synchronous); `prepare` and `after_act` apply them in order
and publish the events. Memory reads `ctx.sections["emotion"].affect()`.

Ablations: `fixed: true` (the state never moves), `loop: false` (labels are asked and recorded but
do not move the state, so both arms make the same model calls), `show: false` (tracked, not shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sociallm.agents.affect import NEUTRAL_AROUSAL, VOCABULARY, AffectState, appraise_text, quadrant
from sociallm.agents.agent import derive_seed
from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.agents.talk_suffix import Folded, TalkSuffix
from sociallm.backbone.base import ChoiceConstraint, GenerationRequest
from sociallm.runtime.events import Event, make_event
from sociallm.runtime.resources import Appraiser, Need, TrustSource

if TYPE_CHECKING:
    from sociallm.agents.agent import Turn

AFFECT_CHANNEL = "affect"
LABEL_PURPOSE = "emotion_label"
# Valence classes for label/lexicon agreement: VADER's own neutral band is |compound| < 0.05; a label
# counts as neutral below 0.25 (only "neutral" itself; "calm" and "wary" have a sign).
VADER_NEUTRAL = 0.05
LABEL_NEUTRAL = 0.25


# The folded form: the reply ends `" [feeling: calm]` (see talk_suffix.py).
FEELING = TalkSuffix(lead=" [feeling: ", options=tuple(VOCABULARY), end="]")


def valence_class(v: float, neutral: float) -> str:
    return "+" if v >= neutral else "-" if v <= -neutral else ""


SelfLabel = Literal["separate", "folded", "off"]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseline_valence: float = Field(default=0.0, ge=-1.0, le=1.0, description="Resting valence (persona).")
    baseline_arousal: float = Field(
        default=NEUTRAL_AROUSAL, ge=0.0, le=1.0, description="Resting arousal (persona); 0.5 is the circumplex middle."
    )
    decay: float = Field(
        default=0.2, ge=0.0, le=10.0, description="Decay rate toward the baseline per round (half-life ln2/decay)."
    )
    message_gain: float = Field(default=0.5, ge=0.0, le=1.0, description="Scale of the impulse a message gives.")
    outcome_gain: float = Field(default=1.0, ge=0.0, le=1.0, description="Scale of the environment's appraisal.")
    label_weight: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Step toward the self-label's coordinates (0 = none, 1 = jump)."
    )
    source_weights: dict[str, Annotated[float, Field(ge=0.0, le=2.0)]] = Field(
        default_factory=dict, description="How much each speaker's messages move this agent (default 1.0)."
    )
    self_label: SelfLabel = Field(
        default="separate",
        description=(
            "How each own message gets its label: 'separate' (1 constrained call per talk turn), 'folded' (a "
            "constrained suffix of the talk call itself where the backend enforces grammars, else separate), "
            "'off'. true/false mean separate/off."
        ),
    )
    label_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    loop: bool = Field(default=True, description="Let the self-label move the state (false: record only).")
    fixed: bool = Field(default=False, description="The state never moves from the baseline.")
    show: bool = Field(default=True, description="Render the state into the prompt.")
    arousal_temperature: float = Field(
        default=0.0,
        ge=-2.0,
        le=2.0,
        description="Sampling temperature shift per unit of arousal above baseline (0 = off).",
    )

    @field_validator("self_label", mode="before")
    @classmethod
    def _boolean_self_label(cls, value: Any) -> Any:
        # The option was a boolean before labels could be folded into the talk call; scenarios still say so.
        if isinstance(value, bool):
            return "separate" if value else "off"
        return value


# What emotion asks of the run (checked when the sections are built; see runtime/resources.py).
APPRAISE = Need("environment", Appraiser, optional=True, why="outcomes move the affect through the game's appraise()")
TRUST = Need("section:tom", TrustSource, optional=True, why="a trusted speaker's words move the agent more")
needs = [Need("environment", why="to appraise the game's outcomes"), APPRAISE, TRUST]


def environment_of(ctx: SectionContext) -> Any:
    """The run's environment (from its resources); None in bare contexts."""
    return ctx.environment


_LABEL_EXAMPLES = (
    ("We beat our sales record this week, fantastic!", "delighted"),
    ("You undercut me again. I will not forget this.", "angry"),
    ("Let us keep prices where they are for now.", "calm"),
    ("I am not sure I can trust your offer.", "wary"),
    ("We lost money again this round.", "disappointed"),
)


def label_prompt(text: str) -> str:
    # A base model continues documents: a few labelled lines, then the open slot. The part before the
    # last message is identical on every call, so the server's prefix cache serves it. Measured on
    # Gemma 3 270M: a "Mood:" field made it answer "tense" for 6 of 7 texts (mood and tense are both
    # grammar terms); "Emotion:" agreed with the lexicon's sign on 5 of 6 non-neutral texts.
    lines = [f"Emotion labels for chat messages. Labels: {', '.join(VOCABULARY)}.", ""]
    for example, word in _LABEL_EXAMPLES:
        lines += [f"Message: {example}", f"Emotion: {word}", ""]
    lines += [f"Message: {text}", "Emotion:"]
    return "\n".join(lines)


class Emotion(BaseSection):
    name = "emotion"

    def __init__(self, ctx: SectionContext, config: Config) -> None:
        self.ctx = ctx
        self.config = config
        self.me = ctx.agent.name
        self.affect_state = AffectState(
            config.baseline_valence, config.baseline_arousal, config.baseline_valence, config.baseline_arousal
        )
        self.last_tick = 0  # the tick the state was last decayed to
        # Appraisals seen by `observe` and not yet applied: JSON-safe dicts, so checkpoints carry them.
        self.pending: list[dict[str, Any]] = []
        self.labels = 0
        # The label the agent's last talk call carried (folded mode), until after_act reads it.
        self.folded: Folded | None = None

    # -- what others read ---------------------------------------------------------------------
    def affect(self) -> tuple[float, float]:
        return self.affect_state.valence, self.affect_state.arousal

    def temperature_shift(self, turn: Turn | None = None) -> float:
        """Added to the sampling temperature when `arousal_temperature` is set (agent hook)."""
        return self.config.arousal_temperature * (self.affect_state.arousal - self.config.baseline_arousal)

    def source_weight(self, source: str) -> float:
        w = self.config.source_weights.get(source, 1.0)
        # Seam for theory of mind: a `tom` section with a synchronous `trust(name) -> [0, 1]` scales
        # how much that speaker's words move this agent.
        tom = self.ctx.uses(TRUST)
        if tom is not None:
            w *= float(tom.trust(source))
        return w

    # -- perception -----------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        if self.config.fixed or event.source == self.me:
            return  # own messages go through the self-label in after_act
        if event.kind == "message" and event.text:
            w = self.source_weight(event.source)
            a = appraise_text(event.text)
            g = self.config.message_gain * w
            self._queue(event, "appraisal", g * a.dv, g * a.da, {**a.details(), "weight": round(w, 4)})
        elif event.kind == "outcome":
            game = self.ctx.uses(APPRAISE)
            impulse = game.appraise(event, self.me) if game is not None else None
            if impulse is not None:
                dv, da = impulse
                g = self.config.outcome_gain
                self._queue(event, "outcome", g * dv, g * da, {"impulse": [round(dv, 4), round(da, 4)]})

    def _queue(self, event: Event, cause: str, dv: float, da: float, details: dict[str, Any]) -> None:
        self.pending.append(
            {"cause": cause, "event": event.id, "from": event.source, "tick": event.tick, "dv": dv, "da": da}
            | {"details": details}
        )

    async def _emit(self, cause: str, before: dict[str, Any], tick: int, **extra: Any) -> None:
        payload = {"cause": cause, "before": before, "after": self.affect_state.snapshot(), **extra}
        await self.ctx.emit(
            make_event("affect", self.me, channel=AFFECT_CHANNEL, to=[self.me], tick=tick, payload=payload)
        )

    async def _decay_to(self, tick: int) -> None:
        if tick <= self.last_tick:
            return
        before = self.affect_state.snapshot()
        ticks = tick - self.last_tick
        self.last_tick = tick
        if self.config.fixed:
            return
        self.affect_state.decay(self.config.decay, ticks)
        after = self.affect_state.snapshot()
        if (after["valence"], after["arousal"]) != (before["valence"], before["arousal"]):
            await self._emit("decay", before, tick, details={"ticks": ticks, "rate": self.config.decay})

    async def _flush(self, tick: int) -> None:
        pending, self.pending = self.pending, []
        for item in pending:
            # Decay up to when it was perceived, then apply: an outcome of round t is felt at t.
            await self._decay_to(item["tick"])
            before = self.affect_state.snapshot()
            self.affect_state.impulse(item["dv"], item["da"])
            await self._emit(
                item["cause"],
                before,
                item["tick"] or tick,
                event=item["event"],
                source=item["from"],
                impulse=[round(item["dv"], 4), round(item["da"], 4)],
                details=item["details"],
            )
        await self._decay_to(tick)

    async def prepare(self, turn: Turn) -> None:
        await self._flush(turn.tick)

    # -- speech ----------------------------------------------------------------------------------
    def render(self, turn: Turn) -> str:
        if not self.config.show:
            return ""
        s = self.affect_state
        return f"{self.me} feels {s.word} (valence {s.valence:.2f}, arousal {s.arousal:.2f})."

    def talk_suffix(self) -> TalkSuffix | None:
        """Agent hook: the suffix that carries the label inside the talk call (folded mode only)."""
        return FEELING if self.config.self_label == "folded" else None

    def take_suffix(self, folded: Folded) -> None:
        """Agent hook: what the talk call's suffix said, kept private until `after_act` reads it."""
        self.folded = folded

    async def after_act(self, event: Event) -> None:
        if event.kind != "message" or event.source != self.me:
            return  # price actions cost no extra call
        folded, self.folded = self.folded, None
        await self._flush(event.tick)
        if self.config.self_label == "off" or event.payload.get("silent") or not event.text:
            return
        mode, repairs = self.config.self_label, []
        if mode == "folded" and folded is not None and folded.text == event.text and folded.label is not None:
            label, raw = folded.label, folded.raw
        else:
            if mode == "folded":
                # A missing folded label costs the separate call, not a step of the loop: the loop and the
                # agreement figures stay comparable across modes, and the cost shows as calls.
                why = folded.why if folded is not None and folded.text == event.text else "no talk suffix"
                suffix = f" {folded.raw!r}" if folded is not None and folded.raw else ""
                repairs.append(f"folded label missing ({why}){suffix}: asked with a separate call")
                mode = "fallback"
            label, raw = await self._label(event)
        own = appraise_text(event.text)
        before = self.affect_state.snapshot()
        applied = label is not None and self.config.loop and not self.config.fixed
        details: dict[str, Any] = {"label": label, "raw": raw, "mode": mode, **own.details()}
        if repairs:
            details["repairs"] = repairs
        if label is not None:
            lv, la = VOCABULARY[label]
            # Agreement with the lexicon on the same text: the figure that says whether labels are signal.
            lexicon = valence_class(own.compound, VADER_NEUTRAL)
            details["agrees_sign"] = valence_class(lv, LABEL_NEUTRAL) == lexicon
            details["agrees_quadrant"] = quadrant(lv, la) == quadrant(own.compound, own.arousal) if lexicon else None
            if applied:
                self.affect_state.pull(lv, la, self.config.label_weight)
        await self._emit(
            "self_label", before, event.tick, event=event.id, source=self.me, applied=applied, details=details
        )

    async def _label(self, event: Event) -> tuple[str | None, str]:
        self.labels += 1
        req = GenerationRequest(
            prompt=label_prompt(event.text),
            max_tokens=4,
            temperature=self.config.label_temperature,
            seed=derive_seed(self.ctx.scenario.seed, self.me, event.tick, LABEL_PURPOSE, self.labels),
            stop=["\n"],
            constraint=ChoiceConstraint(options=list(VOCABULARY)),
            model=self.ctx.agent.model,
            agent=self.me,
            purpose=LABEL_PURPOSE,
        )
        (result,) = await self.ctx.llm.generate([req])
        raw = result.text
        word = raw.strip().lower()
        if word in VOCABULARY:
            return word, raw
        # A server without grammar support may add text after the word; take a leading vocabulary word.
        first = word.split()[0].strip(".,;:!") if word.split() else ""
        return (first if first in VOCABULARY else None), raw

    # -- checkpoints -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "valence": self.affect_state.valence,
            "arousal": self.affect_state.arousal,
            "last_tick": self.last_tick,
            "labels": self.labels,
            "pending": [dict(p) for p in self.pending],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        c = self.config
        self.affect_state = AffectState(
            state.get("valence", c.baseline_valence),
            state.get("arousal", c.baseline_arousal),
            c.baseline_valence,
            c.baseline_arousal,
        )
        self.last_tick = int(state.get("last_tick", 0))
        self.labels = int(state.get("labels", 0))
        self.pending = [dict(p) for p in state.get("pending", [])]


def build(ctx: SectionContext, config: Config) -> Emotion:
    return Emotion(ctx, config)
