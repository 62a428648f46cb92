"""A run: one scenario played from its first round (or its last checkpoint) to its last.

Run wires the parts together (bus, event log, environment, agents, scheduler, backbone) and owns the
run folder. Every event goes through `emit`: the bus stamps it, taps log it and hand it to the agents,
and the environment answers with the events it causes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sociallm.agents.agent import Agent
from sociallm.agents.sections import section_context
from sociallm.agents.strategies import build_agent
from sociallm.agents.transcript import Transcript
from sociallm.backbone.base import LLM
from sociallm.backbone.encoders import close_shared_encoder
from sociallm.environments import get_environment
from sociallm.environments.base import Environment
from sociallm.orchestration.resources import build_resources
from sociallm.orchestration.section_summary import summarise_sections
from sociallm.runtime import registry
from sociallm.runtime.bus import InProcessBus, Tap
from sociallm.runtime.control import RunControl
from sociallm.runtime.eventlog import EVENTS_FILE, EventLog, read_events
from sociallm.runtime.events import Event
from sociallm.runtime.lifecycle import stop_reason
from sociallm.runtime.metered import MeteredLLM
from sociallm.runtime.resources import RunDirUser, RunResources
from sociallm.runtime.router import Router
from sociallm.runtime.rundir import (
    CHECKPOINT,
    MANIFEST,
    METRICS,
    Checkpointer,
    RunDirError,
    RunLock,
    check_fresh,
    command_line,
    completed_hint,
    open_run_dir,
    package_versions,
    read_checkpoint,
    read_json,
    release_space,
    reserve_space,
    truncate_log_after,
    write_json_atomic,
)
from sociallm.runtime.scenario import ScenarioError, ScenarioSpec, apply_overrides, parse_scenario
from sociallm.runtime.scheduler import HELD, Scheduler, system_event
from sociallm.runtime.validate import spec_problems

if TYPE_CHECKING:
    from sociallm.orchestration.remote import Distribution, RunRemote


def new_run_id(scenario: str) -> str:
    return f"{scenario}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunResult:
    run_dir: Path
    run_id: str
    status: str
    rounds_completed: int
    events: int
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


BackboneFactory = Callable[[ScenarioSpec], Any]


async def default_backbone(spec: ScenarioSpec) -> LLM:
    """The scenario's backbone, by `backbone.kind` from the `sociallm.backbones` registry (plug-ins too)."""
    b = spec.backbone
    options: dict[str, Any] = {"max_in_flight": b.max_in_flight, "timeout_s": b.timeout_s, "retries": b.retries}
    if b.deterministic:
        # Measured on llama.cpp: a prompt-cache hit or a different batch changes the sampled text for a seed.
        options.update(max_in_flight=1, cache_prompt=False)
    # Per-agent models are checked against the server's /v1/models before the first round.
    options["required_models"] = {f"agents[{i}].model": a.model for i, a in enumerate(spec.agents) if a.model}
    factory = registry.load(registry.BACKBONES, b.kind, "backbone.kind")
    return await factory(b, options)


class Run:
    def __init__(
        self,
        spec: ScenarioSpec,
        run_dir: Path,
        *,
        llm: LLM | None = None,
        taps: list[Tap] | None = None,
        on_round: Callable[[int, int], None] | None = None,
        run_id: str | None = None,
        distribution: Distribution | None = None,
    ) -> None:
        # The one validation path again: a spec built or changed in Python (model_copy, a sweep's
        # condition) is refused here, before a model server or a run folder exists.
        problems = spec_problems(spec)
        if problems:
            raise ScenarioError(f"scenario {spec.name!r}", problems)
        self.spec = spec
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RunDirError(f"{self.run_dir} is a file, not a run folder; choose another --out")
        self.run_id = run_id or new_run_id(spec.name)
        self._llm = llm
        self._taps: list[Tap] = list(taps or [])
        self._round_listeners: list[Callable[[int, int], None]] = [on_round] if on_round else []
        self.tick = 0
        self.rounds_completed = 0
        self.manifest: dict[str, Any] = {}
        self.env: Environment = get_environment(spec.environment.kind)
        # Reset here, not in execute(): bad environment parameters fail before a model is loaded.
        self._opening = self.env.reset(spec.agent_names, spec.environment.params, random.Random(spec.seed))
        self.agents: dict[str, Agent] = {}
        self.bus: InProcessBus | None = None
        self.log: EventLog | None = None
        self.llm: MeteredLLM | None = None
        self.resources: RunResources | None = None  # built with the agents (orchestration/resources.py)
        self._shared: dict[str, Any] = {}  # its cache: the encoder, ChromaDB clients, the ToM hub
        self.transcript = Transcript(spec)
        self._settlers: list[Callable[[], Awaitable[Any]]] | None = None
        self._started = 0.0
        self._lock: RunLock | None = None
        self._checkpointer: Checkpointer | None = None
        self.finish_problems: list[str] = []  # what could not be written at the end (a full disk)
        self.sections_summary: dict[str, Any] = {}  # per-agent section summaries, made when the run ends
        self._end_error: Exception | None = None
        # True once this process holds the folder and has checked it is its own (fresh, or the run it
        # resumes): only then is a "continue with --resume" hint about this folder true.
        self.owns_folder = False
        self.control = RunControl()
        # Experiment interventions: awaited as hook(run, tick) right after each round_start; talk phases on
        # a channel in `muted` are skipped. Both are re-applied on resume by whoever set them.
        self.round_hooks: list[Callable[[Run, int], Awaitable[None]]] = []
        self.muted: set[str] = set()
        # Agents hosted by workers over MQTT (`--bus`, `--workers`); None: one process, in-process bus.
        self.remote: RunRemote | None = None
        if distribution is not None:
            from sociallm.orchestration.remote import RunRemote  # aiomqtt only for distributed runs

            # Algorithmic agents make no model calls: they always play in the run process.
            self.remote = RunRemote(distribution, self.run_id, [a.name for a in spec.agents if a.kind == "llm"])

    # -- public hooks ----------------------------------------------------------------------------
    def add_tap(self, tap: Tap) -> None:
        """Hear every event as it is logged (a live printer, the TUI's feed); add before `execute()`."""
        self._taps.append(tap)

    def add_round_listener(self, listener: Callable[[int, int], None]) -> None:
        """Called as listener(rounds_done, rounds_total) after each round's checkpoint (progress bars)."""
        self._round_listeners.append(listener)

    def override(self, overrides: dict[str, Any]) -> None:
        """Change scenario fields by dotted path before `execute()` (e.g. a resumed run given more rounds);
        the result passes the one validation path again."""
        data = apply_overrides(self.spec.model_dump(mode="json"), overrides)
        self.spec = parse_scenario(data, "overrides")

    # -- the one path every event takes ------------------------------------------------------
    async def emit(self, event: Event) -> Event:
        held = HELD.get()
        if held is not None:  # an agent working in a simultaneous phase: published in turn order afterwards
            held.append(event)
            return event
        assert self.bus is not None
        ev = await self.bus.publish(event)
        if ev.kind == "system" and ev.payload.get("event") == "round_start":
            self.tick = ev.tick
        for caused in self.env.on_event(ev):
            if caused.tick == 0:
                caused.tick = self.tick
            await self.emit(caused)
        return ev

    # -- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: Path, **kw: Any) -> Run:
        """Rebuild a run from its folder; `execute()` then continues after the last checkpoint."""
        run_dir = open_run_dir(run_dir)
        manifest = read_json(run_dir / MANIFEST)
        if not isinstance(manifest.get("run_id"), str) or not isinstance(manifest.get("scenario"), dict):
            raise RunDirError(f"{run_dir / MANIFEST}: no run_id or scenario; the file is damaged")
        spec = parse_scenario(manifest.get("scenario"), f"{run_dir / MANIFEST}: scenario")
        overrides = kw.pop("overrides", None) or {}
        if overrides:
            spec = spec.model_copy(update=overrides)
        run = cls(spec, run_dir, run_id=manifest["run_id"], **kw)
        run.manifest = manifest
        return run

    def _manifest(self, status: str, **extra: Any) -> None:
        assert self.llm is not None
        self.manifest.update(
            run_id=self.run_id,
            status=status,
            scenario_name=self.spec.name,
            seed=self.spec.seed,
            rounds=self.spec.rounds,
            rounds_completed=self.rounds_completed,
            backend=self.llm.describe(),
            packages=package_versions(),
            command=command_line(),
            events=self.bus.seq if self.bus else 0,
            scenario=self.spec.model_dump(mode="json"),
            **extra,
        )
        self.manifest.setdefault("started_at", _now())
        write_json_atomic(self.run_dir / MANIFEST, self.manifest)

    async def _checkpoint(self) -> None:
        assert self.bus is not None and self.log is not None and self.llm is not None
        assert self._checkpointer is not None
        if self.remote is not None:
            await self.remote.sync_states(self.agents)
        for hook in self._shared.get("before_checkpoint", []):
            await hook()
        self.log.flush()
        self.log.check()  # a checkpoint must never point past what the log holds
        await self._checkpointer.save(
            {
                "run_id": self.run_id,
                "rounds_completed": self.rounds_completed,
                "seq": self.bus.seq,
                "environment": self.env.state(),
                "agents": {n: a.state() for n, a in self.agents.items()},
                "transcript": self.transcript.state(),
                "llm": {
                    "calls": self.llm.calls,
                    "prompt_tokens": self.llm.prompt_tokens,
                    "completion_tokens": self.llm.completion_tokens,
                    "by_agent": self.llm.by_agent,
                },
            },
            self.log.fileno(),
        )

    def _claim_folder(self, resuming: bool) -> tuple[bool, dict[str, Any] | None]:
        """Lock the run folder (made if needed) and check it is ours to write, before any model starts:
        two processes racing for one folder are told apart here, and the loser leaves it alone.
        Returns (whether this call made the folder, the checkpoint to resume from)."""
        made = not self.run_dir.exists()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"{self.run_dir}: cannot make the run folder ({exc.strerror})") from None
        self._lock = RunLock(self.run_dir)
        try:
            checkpoint = None
            if resuming:
                checkpoint = read_checkpoint(self.run_dir)
                done = checkpoint["rounds_completed"] if checkpoint else 0
                if self.manifest.get("status") == "completed" and done >= self.spec.rounds:
                    raise RunDirError(
                        f"{self.run_dir}: the run already completed all {self.spec.rounds} rounds; "
                        + completed_hint(self.run_dir, self.spec.rounds)
                    )
            else:
                check_fresh(self.run_dir)
        except BaseException:
            self._unclaim(made)
            raise
        self.owns_folder = True
        return made, checkpoint

    def _unclaim(self, made: bool) -> None:
        """Give the folder back; one this run made and left empty goes (a run that never started leaves
        nothing behind)."""
        if self._lock:
            self._lock.release()
            self._lock = None
        if made:
            try:
                (self.run_dir / ".lock").unlink(missing_ok=True)
                self.run_dir.rmdir()
            except OSError:
                pass  # something else was put there meanwhile: leave it

    async def execute(self) -> RunResult:
        resuming = bool(self.manifest)
        made, checkpoint = self._claim_folder(resuming)
        try:
            llm = self._llm if self._llm is not None else await default_backbone(self.spec)
        except BaseException:
            self.owns_folder = False
            self._unclaim(made)
            raise
        self.llm = MeteredLLM(
            llm,
            self.emit,
            lambda: self.tick,
            log_prompts=self.spec.backbone.log_prompts,
            max_prompt_chars=self.spec.backbone.max_prompt_chars,
        )
        if isinstance(llm, RunDirUser):
            llm.use_run_dir(self.run_dir)  # e.g. a launched vLLM server's log moves to <run>/vllm.log
        status, error = "failed", None
        self._started = time.perf_counter()
        try:
            start_seq = checkpoint["seq"] if checkpoint else 0
            moved = truncate_log_after(self.run_dir, start_seq) if resuming else 0
            if self.remote is not None:
                self.bus = await self.remote.open_bus(start_seq, self.emit, self.llm, self.run_dir)
            else:
                self.bus = InProcessBus(self.run_id, start_seq=start_seq)
            self.log = EventLog(self.run_dir / EVENTS_FILE)
            self._checkpointer = Checkpointer(self.run_dir / CHECKPOINT)
            self.bus.add_tap("#", self.log.write)
            for tap in self._taps:
                self.bus.add_tap("#", tap)
            self.control.attach(self.emit, lambda: self.tick)
            self._build_agents(llm)
            status, error = "running", None
            status = await self._play(llm, checkpoint, moved)
        except (KeyboardInterrupt, asyncio.CancelledError):
            status, error = "interrupted", stop_reason() or "stopped by the user"
            raise
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            status, error = await self._finish(status, error)
        if self._end_error is not None:  # played to the end, but what it wrote last did not land
            raise self._end_error
        return self.result(status, error)

    def _build_agents(self, llm: Any) -> None:
        assert self.bus is not None and self.llm is not None
        # The same resources a worker builds for its agents (orchestration/resources.py).
        self.resources = build_resources(
            self.spec, llm=self.llm, backend=llm, emit=self.emit, tick=self._tick, run_dir=self.run_dir,
            environment=self.env,
        )  # fmt: skip
        self._shared = self.resources.cache
        # One transcript for every local agent, fed by one tap (agents/transcript.py).
        self.transcript = self._shared["transcript"] = Transcript(self.spec)
        self.bus.add_tap("#", self.transcript.add)
        for a in self.spec.agents:
            if self.remote is not None and (proxy := self.remote.agent(a.name, self.spec)) is not None:
                self.agents[a.name] = proxy  # type: ignore[assignment]
                continue
            ctx = section_context(self.resources, a)
            self.agents[a.name] = build_agent(ctx, self.env.rules(a.name))  # an LLM Agent or an algorithmic kind
        self._router = Router(self.spec, self.agents)
        self.bus.add_tap("#", self._router.deliver)

    def _tick(self) -> int:
        return self.tick

    async def _play(self, llm: Any, checkpoint: dict[str, Any] | None, moved: int) -> str:
        assert self.llm is not None
        if self.remote is not None:
            await self.remote.start(
                self.spec,
                {n: self.env.rules(n) for n in self.spec.agent_names},
                str(self.run_dir.resolve()),
                getattr(llm, "base_url", None),
            )
        if checkpoint:
            self.env.load_state(checkpoint["environment"])
            if "transcript" in checkpoint:
                self.transcript.load_state(checkpoint["transcript"])
            else:  # a checkpoint from before the shared transcript: each agent's own lines
                for name, st in checkpoint["agents"].items():
                    if "history" in st:
                        self.transcript.load_lines(name, list(st["history"]))
            for name, st in checkpoint["agents"].items():
                if name in self.agents:
                    self.agents[name].load_state(st)
            self.rounds_completed = checkpoint["rounds_completed"]
            self.llm.calls = checkpoint["llm"].get("calls", 0)
            self.llm.prompt_tokens = checkpoint["llm"].get("prompt_tokens", 0)
            self.llm.completion_tokens = checkpoint["llm"].get("completion_tokens", 0)
            self.llm.by_agent = checkpoint["llm"].get("by_agent", {})
            self._manifest("running", resumed_at=_now())
            self._reserve()
            await self.emit(
                system_event(
                    self.rounds_completed,
                    "resumed",
                    from_round=self.rounds_completed + 1,
                    discarded_lines=moved,
                    environment=self.spec.environment.kind,
                )
            )
        else:
            self._manifest("running")
            self._reserve()
            await self.emit(
                system_event(
                    0, "run_start", scenario=self.spec.name, seed=self.spec.seed, environment=self.spec.environment.kind
                )
            )
            for ev in self._opening:
                await self.emit(ev)
            await self._checkpoint()

        scheduler = Scheduler(self.spec, self.agents, self.env, self.emit)
        scheduler.muted = self.muted
        scheduler.round_hooks = [functools.partial(hook, self) for hook in self.round_hooks]
        scheduler.settle = self._settle
        status = "completed"
        for tick in range(self.rounds_completed + 1, self.spec.rounds + 1):
            if not await self.control.gate():
                status = "stopped"
                break
            await scheduler.run_round(tick)
            self.rounds_completed = tick
            await self._checkpoint()
            for listener in self._round_listeners:
                listener(tick, self.spec.rounds)
            if self.env.done:
                break
        await self._settle()
        await self.emit(system_event(self.tick, "run_end", status=status))
        return status

    async def _settle(self) -> None:
        """Publish what sections measured in the background (e.g. information content), agent by agent in
        scenario order: the scheduler calls this at fixed points, so the log's order does not depend on
        which model reply came back first."""
        if self._settlers is None:  # found once: scanning every agent before every turn was N² a round
            self._settlers = [
                settle
                for name in self.spec.agent_names
                for section in getattr(self.agents.get(name), "sections", [])
                if (settle := getattr(section, "settle", None)) is not None
            ]
        for settle in self._settlers:
            await settle()

    def _reserve(self) -> None:
        # Room for the final manifest (which holds the scenario) and metrics, whatever fills the disk.
        size = len(json.dumps(self.manifest, default=str))
        reserve_space(self.run_dir, 2 * size + 64 * 1024)

    async def _finish(self, status: str, error: str | None) -> tuple[str, str | None]:
        """Record how the run ended, whatever state it is in, and release everything it holds. Each step
        runs even if an earlier one failed (a full disk fails most of them); what could not be done is
        kept in `finish_problems`, one line each."""
        problems: list[str] = []

        async def step(what: Awaitable[Any] | Callable[[], Any]) -> None:
            try:
                result = what() if callable(what) else what
                if asyncio.iscoroutine(result):
                    await result
            except Exception as exc:
                problems.append(" ".join(str(exc).split()) or type(exc).__name__)

        if self._checkpointer is not None:
            try:
                await self._checkpointer.drain()
            except Exception as exc:  # the last checkpoint did not land: the one before stands
                if status == "completed":  # ...so the run is not: resuming it plays the last round again
                    status, error, self._end_error = "failed", f"{type(exc).__name__}: {exc}", exc
        # What sections held back is written even when the run failed: the store then holds what the log
        # says was remembered, and a resume forgets the discarded half round as it always did.
        for hook in self._shared.get("before_checkpoint", []):
            await step(hook())
        for agent in self.agents.values():
            for section in agent.sections:
                await step(section.aclose())
        await step(close_shared_encoder(self._shared))  # e.g. the embedding-mode server it started
        if self.remote is not None:
            await step(self.remote.finish())
        if self.log is not None:
            self.log.close()
            if self.log.error is not None and status == "completed":
                status, error, self._end_error = "failed", f"LogWriteError: {self.log.error}", self.log.error
        release_space(self.run_dir)  # the room held back for what follows
        await step(self._summarise_sections)
        if self.llm is not None:
            wall = round(time.perf_counter() - self._started, 3)
            await step(lambda: self._manifest(status, ended_at=_now(), error=error, wall_s=wall))
            await step(lambda: write_json_atomic(self.run_dir / METRICS, self.metrics()))
        try:
            if self.bus:
                await step(self.bus.aclose())
            if self.llm and self._llm is None:
                await step(self.llm.aclose())
        finally:
            if self._lock:
                self._lock.release()
        self.finish_problems = problems
        return status, error

    def _summarise_sections(self) -> None:
        """Per-agent summaries of the sections that ran, from the whole log (a resumed run's too)."""
        path = self.run_dir / EVENTS_FILE
        if path.exists():
            self.sections_summary = summarise_sections(read_events(path).events)

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rounds_completed": self.rounds_completed, "environment": self.env.metrics()}
        if self.sections_summary:
            out["sections"] = self.sections_summary
        if self.llm:
            out["llm"] = {
                "calls": self.llm.calls,
                "prompt_tokens": self.llm.prompt_tokens,
                "completion_tokens": self.llm.completion_tokens,
                "by_agent": self.llm.by_agent,
            }
        return out

    def result(self, status: str, error: str | None = None) -> RunResult:
        return RunResult(
            run_dir=self.run_dir,
            run_id=self.run_id,
            status=status,
            rounds_completed=self.rounds_completed,
            events=self.bus.seq if self.bus else 0,
            metrics=self.metrics(),
            error=error,
        )
