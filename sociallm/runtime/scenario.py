"""Scenario files: YAML validated into pydantic specs.

A bad file yields `ScenarioError` whose lines each name the path in the file and the problem
(`agents[1].name: Field required`), never a traceback. `parse_scenario` is the one validation
path: the models here, then everything validate.py can know before a model starts (names,
members, sections, the environment's parameters and actions); `sociallm check`, `run`, `sweep`,
`resume` and the Python API all go through it.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from sociallm.runtime import registry
from sociallm.runtime.scenario_file import FileProblem, LimitError, Limits, parse_yaml, read_text
from sociallm.runtime.validate import (
    ALL,
    format_validation_error,
    loose_environment_problems,
    spec_problems,
)

# Defined with the validation (validate.py) and used by the sections' builder; importable from here too.
from sociallm.runtime.validate import merged_options as merged_options
from sociallm.runtime.validate import section_module as section_module
from sociallm.runtime.validate import section_order as section_order

NAME_RE = r"^[A-Za-z][A-Za-z0-9_\-]{0,31}$"


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentSpec(Spec):
    name: str = Field(pattern=NAME_RE, description="Unique; how the agent appears in the transcript.")
    persona: str = ""
    goals: list[str] = Field(default_factory=list)
    private: str = Field(default="", description="Private information only this agent sees.")
    model: str | None = Field(default=None, description="Served model for this agent (default: backbone's).")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    sections: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-agent overrides of the scenario's section options."
    )
    kind: str = Field(
        default="llm",
        description="llm (a language model), or an algorithm: q_learning, fixed, tit_for_tat, grim_trigger, "
        "best_response (sociallm/agents/strategies).",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="The algorithmic kind's options.")

    @model_validator(mode="after")
    def _kind_options(self) -> AgentSpec:
        problems = check_kind(self.kind, self.options)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ChannelSpec(Spec):
    name: str = Field(pattern=NAME_RE)
    members: list[str] | Literal["all"] = ALL
    description: str = ""

    @property
    def private(self) -> bool:
        return self.members != ALL


class PhaseSpec(Spec):
    name: str = Field(pattern=NAME_RE)
    kind: Literal["talk", "act"]
    mode: Literal["sequential", "simultaneous"] = "sequential"
    channel: str = "public"
    action: str | None = Field(default=None, description="For `act` phases: the environment's action name.")
    turns: int = Field(default=1, ge=1, le=20, description="Talk turns per agent in this phase.")
    order: Literal["rotate", "fixed"] = "rotate"
    max_tokens: int | None = Field(default=None, ge=1, le=4096)

    @model_validator(mode="after")
    def _act_needs_action(self) -> PhaseSpec:
        if self.kind == "act" and not self.action:
            raise ValueError("an `act` phase needs `action:` (e.g. action: price)")
        return self


class EnvironmentSpec(Spec):
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)


class BackboneSpec(Spec):
    kind: str = Field(default="embedded", description="embedded, openai, vllm, or a plug-in's (sociallm.backbones).")
    url: str | None = None
    model: str | None = None
    # kind vllm: start the server ourselves (`model` = a local folder or cached id) or attach to `url`.
    launch: bool = Field(default=False, description="kind vllm: start `python -m vllm...api_server` for `model`.")
    args: list[str] = Field(default_factory=list, description="kind vllm + launch: extra server flags.")
    python: str | None = Field(default=None, description="kind vllm + launch: the vLLM venv's python or folder.")
    served_name: str | None = Field(default=None, description="kind vllm + launch: model name requests use.")
    start_timeout_s: float = Field(default=600.0, gt=0, description="kind vllm + launch: wait for /v1/models.")
    max_restarts: int = Field(default=2, ge=0, le=100, description="kind vllm + launch: restarts after a crash.")
    seeds: bool | None = Field(
        default=None, description="kind vllm: per-request seeds (default: on; off on a launched CPU server)."
    )
    embeddings_url: str | None = Field(
        default=None,
        description="encoder `backbone`: an OpenAI-compatible server answering /v1/embeddings (default: the "
        "backbone's own server; kind embedded: a second in-process server in embedding mode).",
    )
    embeddings_model: str | None = Field(default=None, description="Model name sent to `embeddings_url`.")
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=48, ge=1, le=4096)
    max_in_flight: int = Field(default=16, ge=1, le=1024)
    timeout_s: float = Field(default=120.0, gt=0)
    retries: int = Field(default=4, ge=0, le=20)
    n_parallel: int = Field(default=8, ge=1, le=64, description="Embedded server slots.")
    log_prompts: bool = Field(default=True, description="Record each prompt in its llm_call event.")
    repetition_guard: float = Field(
        default=0.8, ge=0.0, le=2.0, description="Against verbatim copying in talk turns (llama.cpp DRY); 0 = off."
    )
    deterministic: bool = Field(
        default=False,
        description="Same seed, same text (llama.cpp): one request at a time, no prompt cache. Slower.",
    )
    max_prompt_chars: int = Field(
        default=200_000,
        ge=1000,
        description="Longest prompt sent in one call (~4 characters a token); a longer one stops the run with "
        "a line naming the agent and the part of the prompt that grew.",
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        known = registry.names(registry.BACKBONES)
        if v not in known:
            raise ValueError(f"unknown backbone kind {v!r}; known: {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _openai_needs_url(self) -> BackboneSpec:
        if self.kind == "openai" and not self.url:
            raise ValueError("kind `openai` needs `url:` (e.g. http://127.0.0.1:8000/v1)")
        if self.kind == "vllm" and not self.url and not (self.launch and self.model):
            raise ValueError("kind `vllm` needs `url:` to attach, or `launch: true` and `model:` to start a server")
        if self.kind == "vllm" and self.url and self.launch:
            raise ValueError("kind `vllm`: give `url:` (attach) or `launch: true` (start one), not both")
        return self


class AgentOptions(Spec):
    history_lines: int = Field(default=30, ge=1, le=1000, description="Recent transcript lines in a prompt.")
    max_reply_chars: int = Field(default=300, ge=20, le=10000)


class ScenarioSpec(Spec):
    name: str
    description: str = ""
    citation: str = ""
    preamble: str = Field(default="", description="Opening text of every prompt: the setting.")
    seed: int = 0
    rounds: int = Field(default=5, ge=1, le=100000)
    agents: list[AgentSpec] = Field(min_length=1)
    channels: list[ChannelSpec] = Field(default_factory=lambda: [ChannelSpec(name="public")])
    schedule: list[PhaseSpec] = Field(min_length=1)
    environment: EnvironmentSpec
    backbone: BackboneSpec = Field(default_factory=BackboneSpec)
    agent: AgentOptions = Field(default_factory=AgentOptions)
    sections: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Cognitive parts for every agent (emotion, memory, tom) and their options."
    )

    _index: ScenarioIndex | None = PrivateAttr(default=None)

    @property
    def index(self) -> ScenarioIndex:
        """Lookups by name, built once per spec and shared by every agent (read-only). Rebuilt when
        `agents` or `channels` is replaced (model_copy(update=...) carries private attributes over)."""
        idx = self._index
        if idx is None or idx.agents_ref is not self.agents or idx.channels_ref is not self.channels:
            idx = self._index = ScenarioIndex(self)
        return idx

    @property
    def agent_names(self) -> list[str]:
        return list(self.index.names)

    def channel(self, name: str) -> ChannelSpec:
        return self.index.channels[name]

    def members(self, channel: str) -> list[str]:
        return list(self.index.members[channel])


class ScenarioIndex:
    """Name lookups of one scenario: at 10,000 agents, per-agent copies of channel lists and name lists
    were most of an idle agent's memory, and linear searches most of a phase's set-up."""

    def __init__(self, spec: ScenarioSpec) -> None:
        self.agents_ref = spec.agents
        self.channels_ref = spec.channels
        self.names: tuple[str, ...] = tuple(a.name for a in spec.agents)
        self.order: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        self.channels: dict[str, ChannelSpec] = {}
        self.members: dict[str, tuple[str, ...]] = {}
        joined: dict[str, list[str]] = {}
        open_to_all: list[str] = []
        for c in spec.channels:
            self.channels.setdefault(c.name, c)
            if c.members == ALL:
                self.members.setdefault(c.name, self.names)
                open_to_all.append(c.name)
            else:
                self.members.setdefault(c.name, tuple(c.members))
                for m in c.members:
                    joined.setdefault(m, []).append(c.name)
        self.private: frozenset[str] = frozenset(c.name for c in spec.channels if c.private)
        self._open = tuple(open_to_all)
        self._joined = {n: frozenset((*self._open, *chs)) for n, chs in joined.items()}
        self._open_set = frozenset(self._open)

    def channels_of(self, agent: str) -> frozenset[str]:
        """The channels `agent` is a member of (one shared set for everyone on open channels only)."""
        return self._joined.get(agent, self._open_set)


MAX_ERROR_LINES = 20
MAX_LINE_CHARS = 400


def _short(line: str) -> str:
    line = " ".join(line.split())  # one line, whatever a value held
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


class ScenarioError(ValueError):
    """A scenario that cannot be used. `lines` holds one problem per line: the first MAX_ERROR_LINES, then
    `... and N more problems` (a file of 800,000 typos needs the first few fixed, not all of them printed)."""

    def __init__(self, source: str, lines: list[str]) -> None:
        self.source = source
        shown = [_short(line) for line in lines[:MAX_ERROR_LINES]]
        if len(lines) > MAX_ERROR_LINES:
            shown.append(f"... and {len(lines) - MAX_ERROR_LINES} more problems")
        self.lines = shown
        super().__init__("\n".join(f"{source}: {line}" for line in shown))


def builtin_dir() -> Path:
    return Path(str(resources.files("sociallm") / "scenarios"))


def builtin_scenarios() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_dir().glob("*.yaml"))}


def resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists() or "/" in name_or_path:
        if not p.exists():
            raise ScenarioError(name_or_path, ["file not found"])
        return p
    found = builtin_scenarios().get(name_or_path)
    if found is None:
        known = ", ".join(builtin_scenarios())
        raise ScenarioError(name_or_path, [f"no such scenario file or built-in name; built-ins: {known}"])
    return found


def parse_scenario(data: Any, source: str = "<scenario>") -> ScenarioSpec:
    """The one validation path: a spec that a run will accept, or a ScenarioError listing every problem."""
    if not isinstance(data, dict):
        raise ScenarioError(source, ["the file must be a YAML mapping with name, agents, schedule, environment"])
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        # The environment's own checks still run on what can be read, so one pass lists them all.
        lines = format_validation_error(exc, root=ScenarioSpec) + loose_environment_problems(data)
        raise ScenarioError(source, list(dict.fromkeys(lines))) from None
    problems = spec_problems(spec)
    if problems:
        raise ScenarioError(source, problems)
    return spec


LLM_KIND = "llm"


def known_kinds() -> list[str]:
    return [LLM_KIND, *registry.names(registry.AGENT_KINDS)]


def check_kind(kind: str, options: dict[str, Any]) -> list[str]:
    """Problems with an agent's kind and options, each as `kind: ...` or `options.<field>: ...`; each
    kind validates its own options (its class's `Config`, a pydantic model)."""
    if kind == LLM_KIND:
        return [f"options: a language-model agent takes no options (got {', '.join(options)})"] if options else []
    if kind not in known_kinds():
        return [f"kind: unknown agent kind {kind!r}; known: {', '.join(known_kinds())}"]
    config = registry.load(registry.AGENT_KINDS, kind).Config
    try:
        config.model_validate(options or {})
    except ValidationError as exc:
        return format_validation_error(exc, prefix="options", root=config)
    return []


def load_raw(path: Path, limits: Limits | None = None) -> Any:
    """The file's YAML as Python data, within the size, encoding, depth and alias limits (one-line errors)."""
    try:
        limits = limits or Limits.from_env()
        return parse_yaml(read_text(path, limits), limits)
    except (FileProblem, LimitError) as exc:
        raise ScenarioError(str(path), [str(exc)]) from None


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted paths (`environment.params.mu`, `agents.0.persona`) on a raw scenario dict."""
    for dotted, value in overrides.items():
        node: Any = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            key: Any = int(part) if re.fullmatch(r"\d+", part) else part
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                if isinstance(node, dict):
                    node = node.setdefault(key, {})
                else:
                    raise ScenarioError("--set", [f"{dotted}: no such place in the scenario"]) from None
        last: Any = int(parts[-1]) if re.fullmatch(r"\d+", parts[-1]) else parts[-1]
        try:
            node[last] = value
        except (IndexError, TypeError):
            raise ScenarioError("--set", [f"{dotted}: no such place in the scenario"]) from None
    return data


def load_scenario(
    name_or_path: str, overrides: dict[str, Any] | None = None, limits: Limits | None = None
) -> ScenarioSpec:
    try:
        limits = limits or Limits.from_env()
    except LimitError as exc:
        raise ScenarioError(name_or_path, [str(exc)]) from None
    path = resolve(name_or_path)
    data = load_raw(path, limits)
    if overrides and isinstance(data, dict):
        data = apply_overrides(data, overrides)
    return parse_scenario(data, str(path))
