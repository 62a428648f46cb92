"""What a run shares with every agent's sections, as one typed object, and what sections may ask of it.

`RunResources` is built in one place (`orchestration/resources.py: build_resources`), the same way in
the run process and in a worker, so a section sees the same world wherever its agent is hosted (a
worker used to build its sections without the environment: emotion then never appraised outcomes).

A section module declares what it needs next to its `Config` and `build`:

    needs = [
        Need("environment", why="to appraise outcomes"),                  # required: refused if absent
        Need("environment", Appraiser, optional=True, why="outcome affect"),  # used if the game has it
        Need("section:tom", TrustSource, optional=True, why="weigh speakers by trust"),
    ]

`check_needs` runs when an agent's sections are built and refuses a missing required need in one line
naming the agent, the section and what is missing; an optional need that is absent or lacks the
protocol's methods is simply not used (`provided` says whether it is).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sociallm.runtime.events import Event

Emit = Callable[[Event], Awaitable[Any]]


# ---- the protocols sections ask for --------------------------------------------------------------


@runtime_checkable
class HasRules(Protocol):
    """An environment's rules as an agent reads them (every environment has them)."""

    def rules(self, agent: str) -> str: ...


@runtime_checkable
class Appraiser(Protocol):
    """An environment's optional affect hook: how an event of the game feels to `agent` (valence,
    arousal impulses in [−1, 1]), or None. Pure in the event and the game's parameters."""

    def appraise(self, event: Event, agent: str) -> tuple[float, float] | None: ...


@runtime_checkable
class TrustSource(Protocol):
    """A section that says how far an agent trusts a speaker, in [0, 1] (theory of mind)."""

    def trust(self, name: str) -> float: ...


@runtime_checkable
class AffectSource(Protocol):
    """A section that holds an agent's current (valence, arousal) (emotion)."""

    def affect(self) -> tuple[float, float]: ...


@runtime_checkable
class Scorer(Protocol):
    """A model that scores given text (prompt logprobs), e.g. for information content."""

    async def score(self, requests: list[Any]) -> list[Any]: ...


@runtime_checkable
class RunDirUser(Protocol):
    """A backend that keeps files in the run folder (e.g. a launched server's log)."""

    def use_run_dir(self, run_dir: Path) -> None: ...


# ---- the resources -------------------------------------------------------------------------------


@dataclass
class RunResources:
    """Run-wide resources, one per process. `environment` is the game master (the run's own, or in a
    worker an identical one reset from the same scenario and seed: appraisal is pure in the event and the
    parameters); `cache` holds what sections build lazily and share (the sentence encoder, ChromaDB
    clients, the ToM hub), keyed by name."""

    scenario: Any  # ScenarioSpec
    llm: Any  # the metered model every call goes through
    emit: Emit
    tick: Callable[[], int]
    run_dir: Path
    environment: Any  # an Environment (environments/base.py)
    # Where an encoder "backbone" gets embeddings (backbone/encoders.py: embeddings_options).
    embeddings: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The encoder helpers read their endpoint from the cache they keep the encoder in.
        self.cache.setdefault("embeddings", self.embeddings)

    @property
    def encoder(self) -> Any:
        """The run's one sentence encoder, once a section made it (backbone/encoders.py: shared_encoder)."""
        return self.cache.get("encoder")

    @property
    def tom_hub(self) -> Any:
        """The run's theory-of-mind hub (one SSM, one state bank), once the tom section made it."""
        return self.cache.get("tom")


# ---- declared needs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """What a section needs: "environment", "llm", "run_dir", or "section:<name>" (another section of
    the same agent), optionally with a protocol it must satisfy."""

    what: str
    protocol: type | None = None
    optional: bool = False
    why: str = ""

    def describe(self) -> str:
        if self.protocol is None:
            return self.what
        methods = [m for m in vars(self.protocol) if not m.startswith("_")]
        return f"{self.what} with {', '.join(m + '()' for m in methods)}"


def _target(need: Need, resources: RunResources | None, sections: dict[str, Any]) -> Any:
    if need.what.startswith("section:"):
        return sections.get(need.what.partition(":")[2])
    return getattr(resources, need.what, None) if resources is not None else None


def provided(need: Need, resources: RunResources | None, sections: dict[str, Any]) -> Any:
    """The object that meets `need`, or None."""
    target = _target(need, resources, sections)
    if target is None or (need.protocol is not None and not isinstance(target, need.protocol)):
        return None
    return target


def check_needs(where: str, needs: list[Need], resources: RunResources | None, sections: dict[str, Any]) -> None:
    """Refuse a section whose required needs are not met, in one line (a ValueError naming `where`)."""
    for need in needs:
        if need.optional or provided(need, resources, sections) is not None:
            continue
        target = _target(need, resources, sections)
        why = f" ({need.why})" if need.why else ""
        if target is None:
            fix = (
                f"turn on the {need.what.partition(':')[2]} section too"
                if need.what.startswith("section:")
                else "this process built its sections without it; build them with build_resources()"
            )
            raise ValueError(f"{where}: needs the run's {need.describe()}{why}, and has none; {fix}")
        raise ValueError(
            f"{where}: needs the run's {need.describe()}{why}; {type(target).__name__} does not provide it"
        )
