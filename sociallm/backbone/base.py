"""The language-model interface every backend implements.

`LLM.generate(requests) -> results` takes a batch on purpose: backends group concurrent requests
(the embedded server's continuous batching, vLLM's scheduler) and callers acting in the same phase
hand them over together.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class ChoiceConstraint(BaseModel):
    kind: Literal["choice"] = "choice"
    options: list[str] = Field(min_length=1)


class NumberConstraint(BaseModel):
    """A decimal number with a bounded count of integer digits and exact decimals.

    Grammars cannot cheaply bound a value range, so the range is enforced after decoding by the caller
    (and the repair recorded); the grammar guarantees the text parses as a number.
    """

    kind: Literal["number"] = "number"
    min: float = 0.0
    max: float = 100.0
    decimals: int = Field(default=2, ge=0, le=6)


class JsonSchemaConstraint(BaseModel):
    kind: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any]


class RegexConstraint(BaseModel):
    kind: Literal["regex"] = "regex"
    pattern: str


class SuffixChoiceConstraint(BaseModel):
    """Free text up to one of the `close` characters, then `lead`, one of `options`, and `end`: a label
    folded into a reply.

    E.g. close='"\\n', lead=' [feeling: ', end=']' makes a quoted utterance end with `" [feeling: calm]`
    (or, where the model would have ended the line instead, `\\n [feeling: calm]`), so one call gives both
    the message and its label. The text holds none of the `close` characters and no newline, so the model
    decides where the message ends and the grammar takes over from there.
    """

    kind: Literal["suffix_choice"] = "suffix_choice"
    close: str = Field(min_length=1)
    lead: str
    options: list[str] = Field(min_length=1)
    end: str = ""


Constraint = Annotated[
    ChoiceConstraint | NumberConstraint | JsonSchemaConstraint | RegexConstraint | SuffixChoiceConstraint,
    Field(discriminator="kind"),
]


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class GenerationRequest(BaseModel):
    """One completion. Exactly one of `prompt` (completion) or `messages` (chat) is set."""

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    max_tokens: int = 64
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    constraint: Constraint | None = None
    model: str | None = None  # per-agent model override; None = the backend's default
    logprobs: int | None = None
    # Strength (0 = off, ~0.8 typical) of the server's guard against copying earlier text verbatim,
    # which base models do in transcripts; each dialect maps it to its own sampler (see openai_compat).
    repetition_guard: float = Field(default=0.0, ge=0.0, le=2.0)
    # Who asked and why: copied into the `llm_call` event so every token is accounted for.
    agent: str = ""
    purpose: str = ""


class GenerationResult(BaseModel):
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None
    latency_s: float = 0.0
    finish_reason: str | None = None
    model: str = ""
    attempts: int = 1
    logprobs: list[float] | None = None


@runtime_checkable
class LLM(Protocol):
    """What a backbone offers. `describe()` goes into the run manifest."""

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]: ...

    def describe(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def supports(llm: Any, constraint: Any) -> bool:
    """Whether `llm` can enforce `constraint`; False for a backend that does not say (callers then take
    a path that needs no such constraint, instead of sending one that would be ignored or refused)."""
    check = getattr(llm, "supports", None)
    return bool(check is not None and check(constraint))


class BackendError(RuntimeError):
    """The model server failed in a way retries did not fix. The message says what to check."""
