"""Agents hosted by workers in other processes: the turn protocol over the broker, run-process side.

The scheduler talks to a `RemoteAgent` exactly as to a local `Agent`. A turn goes down to the
agent's worker with the `seq` of the last event the run published; the worker first waits until it
has observed every event up to there (so the agent decides on exactly what a local agent would
have seen), then acts and answers. What the worker's agent produces besides its answer (model
calls, affect, memories) comes up as proposals; this process stamps and logs them, so the log
stays the one ordered truth. No answer in time is a recorded no-show, and the run goes on (or
stops, when the scenario says `on_no_show: abort`).

Topics (under `sociallm/<run>/_ctl/`): `spec` (retained: the scenario and each agent's rules),
`down/<agent>` (turn, after, state, load), `down/_all` (stop), `up/<worker>` (ready, reply, propose).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from sociallm.agents.agent import Turn
from sociallm.environments.base import ActionSpec
from sociallm.runtime.events import Event, new_id
from sociallm.runtime.mqtt import BrokerConfig, MqttBus
from sociallm.runtime.scenario import PhaseSpec, ScenarioSpec

log = logging.getLogger("sociallm.remote")


class WireTurn(BaseModel):
    tick: int
    phase: PhaseSpec
    action: ActionSpec | None = None
    turn_index: int = 0

    @classmethod
    def of(cls, turn: Turn) -> WireTurn:
        return cls(tick=turn.tick, phase=turn.phase, action=turn.action, turn_index=turn.turn_index)

    def turn(self) -> Turn:
        return Turn(tick=self.tick, phase=self.phase, action=self.action, turn_index=self.turn_index)


class Down(BaseModel):
    """Run → worker, on `down/<agent>`."""

    kind: Literal["turn", "after", "state", "stop"]
    id: str = Field(default_factory=new_id)
    agent: str = ""
    upto: int = 0  # the worker must have observed every event up to this seq first
    turn: WireTurn | None = None
    event: Event | None = None
    load_state: dict[str, Any] | None = None  # on resume: the agent's checkpointed state, sent with its first request


class Up(BaseModel):
    """Worker → run, on `up/<worker>`."""

    kind: Literal["ready", "reply", "propose", "error", "gone"]
    worker: str
    id: str = Field(default_factory=new_id)
    reply_to: str = ""
    agent: str = ""
    agents: list[str] = Field(default_factory=list)
    event: Event | None = None
    events: list[Event] = Field(default_factory=list)
    state: dict[str, Any] | None = None
    error: str = ""
    epoch: int = 0  # the worker's connection number: a last will older than its latest `ready` is stale


class SpecMessage(BaseModel):
    run: str
    scenario: dict[str, Any]
    rules: dict[str, str]
    start_seq: int
    run_dir: str
    backend_url: str | None = None
    model: str | None = None


class NoShow(RuntimeError):
    pass


Emit = Callable[[Event], Awaitable[Event]]


class RemoteHub:
    """The run process's end of the protocol: sends requests, matches replies, stamps proposals."""

    def __init__(self, bus: MqttBus, emit: Emit, *, timeout_s: float = 60.0, on_no_show: str = "record") -> None:
        self.bus = bus
        self.emit = emit
        self.timeout_s = timeout_s
        self.on_no_show = on_no_show
        self.owner: dict[str, str] = {}  # agent -> worker that announced it
        self.expected: set[str] = set()
        self._ready = asyncio.Event()
        self._waiting: dict[str, asyncio.Future[Up]] = {}
        self._waiting_for: dict[str, tuple[str, asyncio.Future[Up]]] = {}
        self.gone: set[str] = set()
        self.epoch: dict[str, int] = {}
        self._back: dict[str, asyncio.Event] = {}
        # A worker's last will also fires when the broker restarts under it; wait this long for it to reconnect.
        self.grace_s = min(5.0, timeout_s)
        self._inbox: asyncio.Queue[Up] = asyncio.Queue()
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.problems: list[str] = []

    # called by the MQTT client for every message on up/#, in arrival order
    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            msg = Up.model_validate_json(payload)
        except ValidationError as exc:
            self._problem(f"dropped a message on {topic}: not a worker message ({exc.errors()[0]['msg']})")
            return
        if msg.id in self._seen and msg.kind != "gone":
            return  # re-delivered after a reconnect
        self._seen.add(msg.id)
        self._inbox.put_nowait(msg)

    def _problem(self, text: str) -> None:
        self.problems.append(text)
        log.warning("%s", text)

    def start(self, expected: set[str]) -> None:
        self.expected = set(expected)
        self._task = asyncio.create_task(self._serve(), name="remote-hub")

    async def _serve(self) -> None:
        while True:
            msg = await self._inbox.get()
            try:
                await self._handle(msg)
            except Exception as exc:  # one bad message must not stop the run's intake
                self._problem(f"worker {msg.worker}: {type(exc).__name__}: {exc}")

    async def _handle(self, msg: Up) -> None:
        if msg.kind == "gone":
            # The broker's last will for a worker whose connection died: unless it comes back within the grace
            # period, its agents no-show at once instead of each turn waiting out the timeout.
            if msg.epoch < self.epoch.get(msg.worker, 0):
                return
            lost = {a for a, w in self.owner.items() if w == msg.worker}
            for agent in lost:
                self.gone.add(agent)
                self._back.setdefault(agent, asyncio.Event()).clear()
            if lost:
                asyncio.get_running_loop().create_task(self._expire(msg.worker, lost))
            return
        if msg.kind == "ready":
            self.epoch[msg.worker] = max(msg.epoch, self.epoch.get(msg.worker, 0))
            for agent in set(msg.agents) & {a for a, w in self.owner.items() if w == msg.worker}:
                self.gone.discard(agent)
                self._back.setdefault(agent, asyncio.Event()).set()
            for agent in msg.agents:
                if agent not in self.expected:
                    self._problem(f"worker {msg.worker} offers {agent!r}, which this run does not host remotely")
                elif self.owner.setdefault(agent, msg.worker) != msg.worker:
                    self._problem(f"worker {msg.worker} offers {agent!r}, already hosted by {self.owner[agent]}")
            if self.expected <= set(self.owner):
                self._ready.set()
            return
        if msg.agent and self.owner.get(msg.agent) != msg.worker:
            self._problem(f"ignored a {msg.kind} for {msg.agent!r} from {msg.worker}, which does not host it")
            return
        for ev in msg.events:  # proposals first: they happened before the answer
            ev.seq, ev.run = -1, ""
            await self.emit(ev)
        if msg.kind in ("reply", "error") and (fut := self._waiting.pop(msg.reply_to, None)) and not fut.done():
            fut.set_result(msg)

    async def _expire(self, worker: str, lost: set[str]) -> None:
        await asyncio.sleep(self.grace_s)
        still = lost & self.gone
        if not still:
            return
        self._problem(f"worker {worker} is gone; {', '.join(sorted(still))} will no-show")
        for agent, fut in list(self._waiting_for.values()):
            if agent in still and not fut.done():
                fut.set_exception(NoShow(f"{agent}'s worker {worker} is gone (its connection died)"))

    async def _present(self, agent: str) -> bool:
        if agent not in self.gone:
            return True
        try:
            await asyncio.wait_for(self._back[agent].wait(), self.grace_s)
            return True
        except TimeoutError:
            return False

    async def wait_ready(self, timeout_s: float) -> None:
        if not self.expected:
            return  # the bus only carries the run to listeners; every agent is local
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            missing = sorted(self.expected - set(self.owner))
            raise NoShow(
                f"no worker announced {', '.join(missing)} within {timeout_s:.0f} s; start one with "
                f"`sociallm worker --run {self.bus.run} --agents {','.join(missing)} --bus {self.bus.config.url}`"
            ) from None

    async def request(self, down: Down, timeout_s: float | None = None) -> Up:
        if not await self._present(down.agent):
            raise NoShow(f"{down.agent}'s worker is gone (its connection died)")
        fut: asyncio.Future[Up] = asyncio.get_running_loop().create_future()
        self._waiting[down.id] = fut
        self._waiting_for[down.id] = (down.agent, fut)
        self.bus.send_control("down", down.agent, payload=down)
        try:
            return await asyncio.wait_for(fut, timeout_s or self.timeout_s)
        except TimeoutError:
            raise NoShow(
                f"{down.agent} did not answer a {down.kind} request within {timeout_s or self.timeout_s} s"
            ) from None
        finally:
            self._waiting.pop(down.id, None)
            self._waiting_for.pop(down.id, None)

    def stop_workers(self) -> None:
        self.bus.send_control("down", "_all", payload=Down(kind="stop"))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()


class RemoteAgent:
    """Stands in for an agent hosted by a worker; the scheduler and checkpoints use it like a local one."""

    def __init__(self, name: str, hub: RemoteHub, scenario: ScenarioSpec) -> None:
        self.name = name
        self.hub = hub
        self.scenario = scenario
        self.sections: list[Any] = []
        self._state: dict[str, Any] = {}
        self._pending_load: dict[str, Any] | None = None
        self.no_shows = 0

    def observe(self, event: Event) -> None:
        """The worker observes through the broker."""

    def _down(self, kind: str, **kw: Any) -> Down:
        load, self._pending_load = self._pending_load, None
        return Down(kind=kind, agent=self.name, upto=self.hub.bus.seq, load_state=load, **kw)  # type: ignore[arg-type]

    async def act(self, turn: Turn) -> Event:
        try:
            up = await self.hub.request(self._down("turn", turn=WireTurn.of(turn)))
            if up.kind == "error" or up.event is None:
                raise NoShow(f"{self.name}'s worker failed the turn: {up.error or 'no event'}")
            return up.event
        except NoShow as exc:
            return await self._no_show(turn, str(exc))

    async def _no_show(self, turn: Turn, reason: str) -> Event:
        self.no_shows += 1
        if self.hub.on_no_show == "abort":
            raise NoShow(f"{reason} (on_no_show: abort)")
        await self.hub.emit(
            Event(
                kind="system",
                source="scheduler",
                channel="system",
                tick=turn.tick,
                payload={"event": "no_show", "agent": self.name, "phase": turn.phase.name, "reason": reason},
            )
        )
        if turn.phase.kind == "talk":
            channel = self.scenario.channel(turn.phase.channel)
            members = [m for m in self.scenario.members(channel.name) if m != self.name] if channel.private else []
            payload = {"text": "…", "raw": "", "phase": turn.phase.name, "silent": True, "no_show": True}
            channel_name = turn.phase.channel
            return Event(
                kind="message", source=self.name, channel=channel_name, to=members, tick=turn.tick, payload=payload
            )
        action = turn.action.name if turn.action else ""
        payload = {"action": action, "phase": turn.phase.name, "value": None, "missing": True, "no_show": True}
        return Event(kind="action", source=self.name, channel="public", to=[self.name], tick=turn.tick, payload=payload)

    async def after_act(self, event: Event) -> None:
        if event.payload.get("no_show"):
            return
        try:
            await self.hub.request(self._down("after", event=event))
        except NoShow as exc:
            log.warning("%s", exc)

    async def sync_state(self) -> None:
        """Fetch the worker's state of this agent (before a checkpoint); keeps the last one on a no-show."""
        try:
            up = await self.hub.request(self._down("state"), timeout_s=min(self.hub.timeout_s, 30.0))
            if up.state is not None:
                self._state = up.state
        except NoShow as exc:
            log.warning("%s; its checkpoint keeps the last state it reported", exc)

    def state(self) -> dict[str, Any]:
        return self._state

    def load_state(self, state: dict[str, Any]) -> None:
        self._state = state
        self._pending_load = state


class Distribution(BaseModel):
    """How a run spreads over processes: its broker, which agents live in workers, how many to spawn here."""

    bus: BrokerConfig
    remote_agents: list[str] = Field(default_factory=list)  # empty with spawn > 0: all agents
    spawn: int = Field(default=0, ge=0, le=256)
    timeout_s: float = Field(default=60.0, gt=0)
    ready_timeout_s: float = Field(default=180.0, gt=0)
    on_no_show: Literal["record", "abort"] = "record"
    worker_args: list[str] = Field(default_factory=list)  # extra `sociallm worker` arguments for spawned workers


class RunRemote:
    """Everything a Run needs for remote agents: the MQTT bus, the hub, spawned local workers."""

    def __init__(self, dist: Distribution, run_id: str, agent_names: list[str]) -> None:
        unknown = [n for n in dist.remote_agents if n not in agent_names]
        if unknown:
            raise ValueError(f"--remote-agents: {', '.join(unknown)} not in the scenario ({', '.join(agent_names)})")
        self.dist = dist
        self.run_id = run_id
        self.names = dist.remote_agents or (list(agent_names) if dist.spawn else [])
        self.hub: RemoteHub | None = None
        self.procs: list[Any] = []

    async def open_bus(self, start_seq: int, emit: Emit) -> MqttBus:
        bus = MqttBus(self.run_id, self.dist.bus, start_seq, on_control=lambda t, p: self.hub.on_message(t, p))  # type: ignore[union-attr]
        self.hub = RemoteHub(bus, emit, timeout_s=self.dist.timeout_s, on_no_show=self.dist.on_no_show)
        await bus.start()
        return bus

    def agent(self, name: str, scenario: ScenarioSpec) -> RemoteAgent | None:
        return RemoteAgent(name, self.hub, scenario) if self.hub and name in self.names else None  # type: ignore[arg-type]

    async def start(self, spec: ScenarioSpec, rules: dict[str, str], run_dir: str, backend_url: str | None) -> None:
        """Publish the scenario (retained, for workers that come later), spawn local workers, wait for all."""
        assert self.hub is not None
        bus = self.hub.bus
        msg = SpecMessage(
            run=self.run_id,
            scenario=spec.model_dump(mode="json"),
            rules=rules,
            start_seq=bus.seq,
            run_dir=run_dir,
            backend_url=backend_url,
            model=spec.backbone.model,
        )
        bus.send_control("spec", payload=msg, retain=True)
        self.hub.start(set(self.names))
        if self.dist.spawn:
            self._spawn()
        await self.hub.wait_ready(self.dist.ready_timeout_s)

    def _spawn(self) -> None:
        import subprocess
        import sys

        groups = [self.names[i :: self.dist.spawn] for i in range(self.dist.spawn)]
        for i, group in enumerate(g for g in groups if g):
            cmd = [sys.executable, "-m", "sociallm.cli", "worker", "--run", self.run_id, "--agents", ",".join(group)]
            cmd += ["--bus", self._bus_url(), "--id", f"local{i}", *self.dist.worker_args]
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))

    def _bus_url(self) -> str:
        c = self.dist.bus
        auth = ""
        if c.username:
            from urllib.parse import quote

            auth = quote(c.username) + (f":{quote(c.password)}" if c.password else "") + "@"
        return f"{'mqtts' if c.tls else 'mqtt'}://{auth}{c.host}:{c.port}"

    async def sync_states(self, agents: dict[str, Any]) -> None:
        await asyncio.gather(*(a.sync_state() for a in agents.values() if isinstance(a, RemoteAgent)))

    async def finish(self) -> None:
        if self.hub is None:
            return
        self.hub.stop_workers()
        self.hub.bus.send_control("spec", payload={}, retain=True)  # an empty retained message clears the spec
        await self.hub.aclose()
        for p in self.procs:
            try:
                await asyncio.to_thread(p.wait, 10)
            except Exception:
                p.kill()
