"""Agents hosted by workers in other processes: the turn protocol over the broker, run-process side.

The scheduler talks to a `RemoteAgent` exactly as to a local `Agent`. A turn goes down to the
agent's worker with the `seq` of the last event the run published; the worker first waits until it
has observed every event up to there (so the agent decides on exactly what a local agent would
have seen), then acts and answers. What the worker's agent produces besides its answer (model
calls, affect, memories) comes up as proposals; this process stamps and logs them, so the log
stays the one ordered truth. No answer in time is a recorded no-show, and the run goes on (or
stops, when the scenario says `on_no_show: abort`).

Topics (under `sociallm/<run>/_ctl/`): `spec` (retained: the scenario and each agent's rules),
`down/<agent>` (turn, after, state), `down/_all` (stop, ping), `up/<worker>` (ready, reply, propose).
Every message is signed (see mqtt_security.py): the run's with its own key, a worker's with the
keys of the agents it speaks for, so a worker can only ever speak for its own agents, and nothing
a broker client without keys publishes is stamped, logged or shown to an agent.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from sociallm.agents.agent import Turn
from sociallm.environments.base import ActionSpec
from sociallm.runtime.events import Event, new_id
from sociallm.runtime.mqtt import BrokerConfig, MqttBus, control_topic, unpack
from sociallm.runtime.mqtt_security import KEY_FILE, RUN, WATCH, Credential, DropLog, Dropped, Gate, instance_time
from sociallm.runtime.scenario import PhaseSpec, ScenarioSpec

log = logging.getLogger("sociallm.remote")

# Wills that arrive this close before the run loses the broker itself were sent by the broker going down.
OUTAGE_WILLS_S = 2.0
# What a worker may propose besides its agents' answers: read-outs of its own agents' minds and model calls.
PROPOSABLE = frozenset({"llm_call", "affect", "memory", "tom", "info", "system"})
ANSWERS = frozenset({"message", "action"})


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
    """Run → worker, on `down/<agent>` (sealed for that agent) or `down/_all` (stop, ping)."""

    kind: Literal["turn", "after", "state", "stop", "ping"]
    id: str = Field(default_factory=new_id)
    agent: str = ""
    worker: str = ""  # the worker process (its instance) the request is for: an old request means nothing to a new one
    upto: int = 0  # the worker must have observed every event up to this seq first
    turn: WireTurn | None = None
    event: Event | None = None
    load_state: dict[str, Any] | None = None  # on resume: the agent's checkpointed state, sent with its first request


class Up(BaseModel):
    """Worker → run, on `up/<worker>` (sealed for the run)."""

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


def speaks_for(up: Up) -> set[str]:
    """The agents a worker message speaks for: it must be signed with each one's key."""
    who = set(up.agents) | ({up.agent} if up.agent else set())
    for ev in [*up.events, *([up.event] if up.event else [])]:
        if ev.kind == "tom":  # a ToM read-out speaks for the observers whose views it reports
            who |= set(ev.payload.get("observers") or []) or {ev.source}
        else:
            who.add(ev.source)
    return who


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
    """The run process's end of the protocol: sends requests, matches replies, stamps proposals.

    A worker's last will (its connection died) gives it `grace_s` to come back before its agents
    no-show. A broker outage is not a death: wills that the broker sends on its way down (Mosquitto
    sends every client's), and the silence while it is down, count for nothing. Once the run is
    reconnected it asks every worker to announce itself; one still silent after `grace_s` is only
    suspect: its next turn waits out the turn timeout, and only if that passes is it gone.
    """

    def __init__(
        self,
        bus: MqttBus,
        emit: Emit,
        *,
        timeout_s: float = 60.0,
        on_no_show: str = "record",
        meter: Any = None,
    ) -> None:
        self.bus = bus
        self.emit = emit
        self.timeout_s = timeout_s
        self.on_no_show = on_no_show
        self.meter = meter  # the run's MeteredLLM: the workers' model calls count in the run's usage
        self.gate = Gate(bus.credential)
        self.owner: dict[str, str] = {}  # agent -> worker that announced it
        self.hosted: dict[str, set[str]] = {}  # worker -> the agents it hosts (the inverse of owner)
        self.instance: dict[str, str] = {}  # worker -> the process instance that announced itself
        self.expected: set[str] = set()
        self._ready = asyncio.Event()
        self._waiting: dict[str, asyncio.Future[Up]] = {}
        self._waiting_for: dict[str, tuple[str, asyncio.Future[Up]]] = {}
        self.gone: set[str] = set()  # agents whose worker's connection died (they may come back)
        self.dead: set[str] = set()  # ... and did not come back in time: their turns no-show at once
        # ... or whose will came with a broker outage, or who stayed silent after it: not dead until a turn times out
        self.suspect: set[str] = set()
        self._gone_at: dict[str, float] = {}
        self._outage_until = 0.0
        self.epoch: dict[str, int] = {}
        self._back: dict[str, asyncio.Event] = {}  # set when the agent is back, or declared dead
        # How long a worker has to come back (after its last will, or after the run's own reconnect) before its
        # agents no-show: a worker back-off (2 s) plus a connect attempt the broker dropped (4 s), with room.
        self.grace_s = min(10.0, timeout_s)
        self._link_up = asyncio.Event()
        self._link_up.set()
        self._link_gen = 0
        self._heard: set[str] = set()  # workers heard since the run's last reconnect
        self._inbox: asyncio.Queue[Up] = asyncio.Queue()
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
        self.drops = DropLog(log)
        self.problems = self.drops.recent  # the latest refusals and worker problems, each with its reason

    # called by the MQTT client for every message on up/#, in arrival order
    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            body, t = self.gate.open(topic, payload)
        except Dropped as d:
            if d.replay:
                log.debug("dropped a message on %s: %s", topic, d.reason)
            else:
                self.drops(topic, f"{d.reason}")
            return
        if t.s == RUN or topic != control_topic(self.bus.run, "up", t.s):
            self.drops(topic, f"signed by {t.s!r}, whose topic this is not")
            return
        plain = unpack(body, self.bus.credential, topic)
        try:
            msg = Up.model_validate_json(plain or b"")
        except ValidationError as exc:
            self.drops(topic, f"not a worker message ({exc.errors()[0]['msg']})")
            return
        if msg.worker != t.s:
            self.drops(topic, f"worker {t.s!r} signed a message of {msg.worker!r}")
            return
        if not speaks_for(msg) <= set(t.a):
            extra = ", ".join(sorted(speaks_for(msg) - set(t.a)))
            self._problem(f"dropped a {msg.kind} of worker {msg.worker}: it speaks for {extra} without their key")
            return
        if msg.kind == "gone":
            if t.i != self.instance.get(msg.worker, "") + "/will":
                log.debug("ignored the last will of a process of %s that is not the one serving", msg.worker)
                return
        elif t.e != self.bus.epoch:
            self._problem(f"dropped a {msg.kind} of worker {msg.worker}: it answers an earlier process of this run")
            return
        elif msg.kind == "ready":
            current = self.instance.get(msg.worker)
            if current is not None and current != t.i:
                if instance_time(t.i) <= instance_time(current):
                    self._problem(f"dropped a ready of worker {msg.worker}: from an older process than the serving one")
                    return
                log.info("worker %s restarted (a new process)", msg.worker)
                self.epoch.pop(msg.worker, None)
            self.instance[msg.worker] = t.i
        elif t.i != self.instance.get(msg.worker):
            self._problem(f"dropped a {msg.kind} of worker {msg.worker}: from a process that did not announce itself")
            return
        if msg.id in self._seen and msg.kind != "gone":
            return  # re-delivered after a reconnect
        self._seen.add(msg.id)
        self._inbox.put_nowait(msg)

    def _problem(self, text: str) -> None:
        self.drops.recent.append(text)
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

    def _timer(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    # -- the run's own connection ------------------------------------------------------------------
    def link_down(self) -> None:
        """The run lost the broker: until it is back, nobody's silence means anything.

        A broker that stops sends the last will of every client first: wills that came just before are
        the outage's, not deaths.
        """
        self._link_up.clear()
        self._link_gen += 1
        self._outage_until = math.inf
        now = asyncio.get_running_loop().time()
        self.suspect |= {a for a in self.gone if now - self._gone_at.get(a, -math.inf) < OUTAGE_WILLS_S}

    def link_up(self, connection: int) -> None:
        self._link_up.set()
        self._link_gen += 1
        if connection == 1:
            return  # the first connection ends no outage: a will now is a worker dying early in the run
        # Wills the broker queued for us while it went down arrive now: they are the outage's too.
        self._outage_until = asyncio.get_running_loop().time() + self.grace_s
        if self.owner:
            self._heard.clear()
            self.bus.send_control("down", "_all", payload=Down(kind="ping"))
            self._timer(self._confirm())

    async def _quiet_grace(self) -> None:
        """Sleep `grace_s` of time during which the run was connected without a break."""
        while True:
            await self._link_up.wait()
            gen = self._link_gen
            await asyncio.sleep(self.grace_s)
            if gen == self._link_gen and self._link_up.is_set():
                return

    async def _confirm(self) -> None:
        """After an outage: a worker still silent is suspect; its next turn waits out the turn timeout, no less."""
        await self._quiet_grace()
        for worker in set(self.owner.values()) - self._heard:
            lost = set(self.hosted.get(worker, set()))
            self.gone |= lost
            self.suspect |= lost
            for agent in lost:
                self._back.setdefault(agent, asyncio.Event()).clear()
            self._problem(f"worker {worker} has not announced itself since the broker came back")

    def _declare_dead(self, worker: str, lost: set[str], why: str) -> None:
        still = lost & self.gone - self.suspect
        if not still:
            return
        self.dead |= still
        self._problem(f"worker {worker} is gone ({why}); {', '.join(sorted(still))} will no-show")
        for agent in still:
            self._back.setdefault(agent, asyncio.Event()).set()
        for agent, fut in list(self._waiting_for.values()):
            if agent in still and not fut.done():
                fut.set_exception(NoShow(f"{agent}'s worker {worker} is gone ({why})"))

    async def _expire(self, worker: str, lost: set[str]) -> None:
        await self._quiet_grace()
        self._declare_dead(worker, lost, "its connection died")

    # -- messages from workers -------------------------------------------------------------------------
    async def _handle(self, msg: Up) -> None:
        if msg.kind == "gone":
            # The broker's last will for a worker whose connection died: unless it comes back within the grace
            # period, its agents no-show at once instead of each turn waiting out the timeout.
            if msg.epoch < self.epoch.get(msg.worker, 0):
                return
            lost = set(self.hosted.get(msg.worker, set()))
            now = asyncio.get_running_loop().time()
            for agent in lost:
                self.gone.add(agent)
                self._gone_at[agent] = now
                self._back.setdefault(agent, asyncio.Event()).clear()
            if now < self._outage_until:
                self.suspect |= lost  # sent by a broker going down, not by a dying worker
            elif lost:
                self._timer(self._expire(msg.worker, lost))
            return
        if msg.kind == "ready":
            self._heard.add(msg.worker)
            self.epoch[msg.worker] = max(msg.epoch, self.epoch.get(msg.worker, 0))
            for agent in set(msg.agents) & self.hosted.get(msg.worker, set()):
                self.gone.discard(agent)
                self.dead.discard(agent)
                self.suspect.discard(agent)
                self._back.setdefault(agent, asyncio.Event()).set()
            for agent in msg.agents:
                if agent not in self.expected:
                    self._problem(f"worker {msg.worker} offers {agent!r}, which this run does not host remotely")
                elif self.owner.setdefault(agent, msg.worker) != msg.worker:
                    self._problem(f"worker {msg.worker} offers {agent!r}, already hosted by {self.owner[agent]}")
                else:
                    self.hosted.setdefault(msg.worker, set()).add(agent)
            self.bus.mac_agents = sorted(min(agents) for agents in self.hosted.values())
            if self.expected <= set(self.owner):
                self._ready.set()
            return
        self._heard.add(msg.worker)
        if msg.agent and self.owner.get(msg.agent) != msg.worker:
            self._problem(f"ignored a {msg.kind} for {msg.agent!r} from {msg.worker}, which does not host it")
            return
        for ev in msg.events:  # proposals first: they happened before the answer
            if why := self._refused(msg.worker, ev):
                self._problem(f"ignored a proposal of worker {msg.worker}: {why}")
                continue
            ev.seq, ev.run = -1, ""
            stamped = await self.emit(ev)
            if stamped.kind == "llm_call" and self.meter is not None:
                self.meter.record(stamped)
        if msg.kind in ("reply", "error") and (fut := self._waiting.pop(msg.reply_to, None)) and not fut.done():
            fut.set_result(msg)

    def _refused(self, worker: str, ev: Event) -> str:
        """Why a proposed event may not be stamped ('' if it may): workers speak only for their own agents."""
        owned = self.hosted.get(worker, set())
        if ev.kind not in PROPOSABLE:
            return f"{ev.kind} events are answers or the environment's, not proposals"
        # a tom event's source is the section ("tom"), for the analyst: it speaks for the observers or the speaker
        speaker = str(ev.payload.get("speaker", ev.source))
        names = (set(ev.payload.get("observers") or []) or {speaker}) if ev.kind == "tom" else {ev.source}
        if not names <= owned:
            return f"a {ev.kind} event for {', '.join(sorted(names - owned))}, whom it does not host"
        if ev.kind == "system" and ev.to != [ev.source]:
            return "a system event that is not a private note of its own agent"
        return ""

    async def _absent(self, agent: str) -> str:
        """Why the agent's worker is not there ('' if it is); while its connection is merely lost, wait for it
        (up to the turn timeout: past that, one silent since an outage is gone too)."""
        if agent in self.dead:
            return f"{agent}'s worker is gone (its connection died)"
        if agent not in self.gone:
            return ""
        try:
            await asyncio.wait_for(self._back.setdefault(agent, asyncio.Event()).wait(), self.timeout_s)
        except TimeoutError:
            self._gone_for_good(agent)
            return f"{agent}'s worker did not come back within {self.timeout_s:g} s"
        return f"{agent}'s worker is gone (its connection died)" if agent in self.dead else ""

    def _gone_for_good(self, agent: str) -> None:
        if agent in self.suspect:  # silent since an outage, and now past a whole turn: gone after all
            self.suspect.discard(agent)
            self._declare_dead(self.owner.get(agent, "?"), {agent}, "silent since the broker came back")

    async def wait_ready(self, timeout_s: float) -> None:
        if not self.expected:
            return  # the bus only carries the run to listeners; every agent is local
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            missing = sorted(self.expected - set(self.owner))
            raise NoShow(
                f"no worker announced {', '.join(missing)} within {timeout_s:.0f} s; start one with "
                f"`sociallm worker --run {self.bus.run} --agents {','.join(missing)} --bus {self.bus.config.url} "
                f"--key-file RUN_DIR/{KEY_FILE}`"
            ) from None

    async def request(self, down: Down, timeout_s: float | None = None) -> Up:
        if why := await self._absent(down.agent):
            raise NoShow(why)
        fut: asyncio.Future[Up] = asyncio.get_running_loop().create_future()
        down.worker = self.instance.get(self.owner.get(down.agent, ""), "")
        self._waiting[down.id] = fut
        self._waiting_for[down.id] = (down.agent, fut)
        self.bus.send_control("down", down.agent, payload=down, readers=[down.agent], only_for=down.agent)
        try:
            return await asyncio.wait_for(fut, timeout_s or self.timeout_s)
        except TimeoutError:
            self._gone_for_good(down.agent)
            raise NoShow(
                f"{down.agent} did not answer a {down.kind} request within {timeout_s or self.timeout_s} s"
            ) from None
        finally:
            self._waiting.pop(down.id, None)
            self._waiting_for.pop(down.id, None)

    def stop_workers(self) -> None:
        self.bus.send_control("down", "_all", payload=Down(kind="stop"))

    async def aclose(self) -> None:
        for t in [*self._timers, *([self._task] if self._task else [])]:
            t.cancel()


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
            if up.event.source != self.name or up.event.kind not in ANSWERS:
                raise NoShow(f"{self.name}'s worker answered with a {up.event.kind} of {up.event.source!r}")
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


def run_credential(run_dir: Path, run_id: str) -> Credential:
    """The run's bus key: made on the first start (0600, in the run folder), read back on resume."""
    path = Path(run_dir) / KEY_FILE
    if path.exists():
        return Credential.load(path).check_run(run_id, str(path))
    cred = Credential.generate(run_id)
    cred.save(path)
    return cred


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
        self.credential: Credential | None = None

    async def open_bus(self, start_seq: int, emit: Emit, meter: Any = None, run_dir: Path | None = None) -> MqttBus:
        self.credential = run_credential(run_dir, self.run_id) if run_dir else Credential.generate(self.run_id)
        bus = MqttBus(
            self.run_id,
            self.dist.bus,
            start_seq,
            on_control=lambda t, p: self.hub.on_message(t, p),  # type: ignore[union-attr]
            credential=self.credential,
            on_connect=lambda n: self.hub.link_up(n),  # type: ignore[union-attr]
            on_disconnect=lambda: self.hub.link_down(),  # type: ignore[union-attr]
        )
        self.hub = RemoteHub(bus, emit, timeout_s=self.dist.timeout_s, on_no_show=self.dist.on_no_show, meter=meter)
        await bus.start()
        return bus

    def agent(self, name: str, scenario: ScenarioSpec) -> RemoteAgent | None:
        return RemoteAgent(name, self.hub, scenario) if self.hub and name in self.names else None  # type: ignore[arg-type]

    async def start(self, spec: ScenarioSpec, rules: dict[str, str], run_dir: str, backend_url: str | None) -> None:
        """Publish the scenario (retained, for workers that come later), spawn local workers, wait for all."""
        assert self.hub is not None
        bus = self.hub.bus
        bus.policy.agents = set(spec.agent_names)
        bus.policy.private = {c.name: set(spec.members(c.name)) for c in spec.channels if c.private}
        msg = SpecMessage(
            run=self.run_id,
            scenario=spec.model_dump(mode="json"),
            rules=rules,
            start_seq=bus.seq,
            run_dir=run_dir,
            backend_url=backend_url,
            model=spec.backbone.model,
        )
        # Sealed for the agents that live in workers: it holds every agent's rules and private facts.
        bus.send_control("spec", payload=msg, retain=True, readers={*self.names, WATCH})
        self.hub.start(set(self.names))
        if self.dist.spawn:
            self._spawn()
        await self.hub.wait_ready(self.dist.ready_timeout_s)

    def _spawn(self) -> None:
        import os
        import subprocess
        import sys

        from sociallm.runtime.mqtt import ENV_PASSWORD
        from sociallm.runtime.mqtt_security import ENV_KEY, ENV_KEY_FILE

        assert self.credential is not None
        c = self.dist.bus
        groups = [self.names[i :: self.dist.spawn] for i in range(self.dist.spawn)]
        for i, group in enumerate(g for g in groups if g):
            # Secrets travel in the environment (readable only by this user), never on the command line.
            env = {k: v for k, v in os.environ.items() if k not in (ENV_KEY, ENV_KEY_FILE, ENV_PASSWORD)}
            env[ENV_KEY] = self.credential.for_agents(group).model_dump_json(exclude_none=True)
            if c.password:
                env[ENV_PASSWORD] = c.password
            cmd = [sys.executable, "-m", "sociallm.cli", "worker", "--run", self.run_id, "--agents", ",".join(group)]
            cmd += ["--bus", c.url, *c.tls_args(), "--id", f"local{i}", "--exit-with-stdin", *self.dist.worker_args]
            # Its stdin is a pipe from us: if this process dies, the worker sees the pipe close and stops too.
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env))

    async def sync_states(self, agents: dict[str, Any]) -> None:
        await asyncio.gather(*(a.sync_state() for a in agents.values() if isinstance(a, RemoteAgent)))

    async def finish(self) -> None:
        if self.hub is None:
            return
        self.hub.stop_workers()
        self.hub.bus.clear_retained("spec")
        await self.hub.aclose()
        for p in self.procs:
            try:
                await asyncio.to_thread(p.wait, 10)
            except Exception:
                p.kill()
            if p.stdin is not None:
                p.stdin.close()
