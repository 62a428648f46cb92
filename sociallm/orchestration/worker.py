"""A worker: hosts some of a run's agents in another process (or on another machine) over MQTT.

It hears the run's events through the broker, in seq order, and feeds them to its agents exactly
as the run process would; it acts only when asked, and only for the agents it was given. Each
agent keeps its own sections (memory, emotion, theory of mind) here. What they produce is sent
up to the run process, which stamps and logs it.

It holds a credential with the keys of its agents only (see mqtt_security.py): it checks that
every event and request comes from the run, opens what is addressed to its agents, and signs what
it sends with their keys. A forged or replayed request (a stop, a turn) is dropped with a reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sociallm.agents.agent import Agent
from sociallm.agents.sections import build_sections, section_context
from sociallm.backbone.base import LLM
from sociallm.backbone.encoders import close_shared_encoder
from sociallm.orchestration.remote import Down, SpecMessage, Up, speaks_for
from sociallm.orchestration.resources import build_resources
from sociallm.runtime.events import Event
from sociallm.runtime.metered import MeteredLLM
from sociallm.runtime.mqtt import CONTROL, BrokerConfig, BusError, EventStream, MqttLink, control_topic, pack, unpack
from sociallm.runtime.mqtt_security import RUN, AgentSigner, Credential, DropLog, Dropped, Gate, SecurityError
from sociallm.runtime.scenario import ScenarioSpec

log = logging.getLogger("sociallm.worker")


class WorkerError(RuntimeError):
    pass


class Worker:
    def __init__(
        self,
        run: str,
        agents: list[str],
        config: BrokerConfig,
        *,
        credential: Credential,
        llm: LLM | None = None,
        backend_url: str | None = None,
        model: str | None = None,
        worker_id: str | None = None,
        spec_timeout_s: float = 60.0,
        sync_timeout_s: float = 30.0,
    ) -> None:
        if not agents:
            raise WorkerError("--agents: name at least one agent, e.g. --agents Alice,Bob")
        self.run = run
        self.names = list(dict.fromkeys(agents))
        self.config = config
        try:
            self.credential = credential.check_run(run, "--key-file")
        except SecurityError as exc:
            raise WorkerError(str(exc)) from None
        if missing := [n for n in self.names if credential.agent_key(n) is None]:
            raise WorkerError(
                f"--agents: the key holds no key for {', '.join(missing)}; make one with "
                f"`sociallm bus-key RUN_DIR --agents {','.join(self.names)}` (or use the run folder's bus.key)"
            )
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.signer = AgentSigner(self.credential, sender=self.id)
        self.gate = Gate(self.credential)
        self._llm = llm
        self._backend_url = backend_url
        self._model = model
        self.spec_timeout_s = spec_timeout_s
        self.sync_timeout_s = sync_timeout_s
        self.agents: dict[str, Agent] = {}
        self.tick = 0
        self.stream: EventStream | None = None
        self.run_epoch: int | None = None
        self._early: list[tuple[str, bytes]] = []
        self._spec: asyncio.Future[tuple[SpecMessage, int]] | None = None
        self._downs: asyncio.Queue[tuple[Down, int]] = asyncio.Queue()
        self._outbox: list[Event] = []
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seen: set[str] = set()
        self.link: MqttLink | None = None
        self.llm: MeteredLLM | None = None
        self.refused: list[str] = []
        self.drops = DropLog(log)
        self.dropped = self.drops.recent
        self.restarted = ""

    # -- messages from the broker, in arrival order ----------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) >= 3 and parts[2] == CONTROL:
            self._on_control(parts[3:], topic, payload)
        elif self.stream is None:
            self._early.append((topic, payload))  # events before the spec: held until we know where to start
        else:
            self.stream.feed(topic, payload)

    def _drop(self, topic: str, why: str) -> None:
        self.drops(topic, why)

    def _on_control(self, path: list[str], topic: str, payload: bytes) -> None:
        if not payload:
            return  # the run cleared its retained scenario
        try:
            body, t = self.gate.open(topic, payload)
        except Dropped as d:
            if d.replay:
                log.debug("dropped a message on %s: %s", topic, d.reason)
            else:
                self._drop(topic, d.reason)
            return
        if t.s != RUN:
            return self._drop(topic, f"signed by worker {t.s!r}; only the run sends the scenario and requests")
        if self.run_epoch is not None and t.e < self.run_epoch:
            return self._drop(topic, "from an earlier process of this run (before it resumed)")
        plain = unpack(body, self.credential, topic)
        if plain is None:
            return self._drop(topic, "sealed for agents this worker does not host")
        if path == ["spec"]:
            try:
                spec = SpecMessage.model_validate_json(plain)
            except ValidationError as exc:
                return self._drop(topic, f"not the run's scenario ({exc.errors()[0]['msg']})")
            if self._spec is not None and not self._spec.done():
                self._spec.set_result((spec, t.e))
                self.signer.epoch = t.e
            elif self.run_epoch is not None and t.e > self.run_epoch:
                # The run was resumed by a new process: this worker's agents and stream belong to the old one.
                self.restarted = f"run {self.run!r} was restarted from its checkpoint; start this worker again"
                self._done.set()
            return
        try:
            down = Down.model_validate_json(plain)
        except ValidationError as exc:
            return self._drop(topic, f"not a run request ({exc.errors()[0]['msg']})")
        if down.id in self._seen:
            return
        self._seen.add(down.id)
        self._downs.put_nowait((down, t.e))

    # -- life ----------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Announce the agents, then answer the run until it ends or says stop."""
        self._spec = asyncio.get_running_loop().create_future()
        subs = [f"sociallm/{self.run}/+", control_topic(self.run, "spec"), control_topic(self.run, "down", "_all")]
        subs += [control_topic(self.run, "down", n) for n in self.names]
        up = control_topic(self.run, "up", self.id)

        def will(n: int) -> tuple[str, bytes]:
            # Signed now, published by the broker only if this connection dies without a goodbye.
            msg = Up(kind="gone", worker=self.id, epoch=n, agents=self.names)
            body = pack(msg.model_dump_json().encode(), self.names, self.credential, up)
            return up, self.signer.wrap(up, body, self.names, instance=f"{self.signer.instance}/will", n=n)

        self.link = MqttLink(
            self.config,
            f"sociallm-worker-{self.run}-{self.id}",
            subs,
            self._on_message,
            will=will,
            on_connect=self._hello,
        )
        await self.link.start()
        try:
            try:
                spec_msg, epoch = await asyncio.wait_for(self._spec, self.spec_timeout_s)
            except TimeoutError:
                raise WorkerError(
                    f"run {self.run!r} published no scenario on {self.config.url} within {self.spec_timeout_s:.0f} s "
                    "that this worker could open; is the run started with --bus on the same broker and this run id, "
                    "and is the key the run's?"
                ) from None
            self.run_epoch = epoch
            await self._build(spec_msg)
            self.stream = EventStream(self.run, spec_msg.start_seq, credential=self.credential, epoch=epoch)
            for topic, payload in self._early:
                self.stream.feed(topic, payload)
            self._early.clear()
            self._announced = True
            self._hello(self.link.connections)
            observer = asyncio.create_task(self._observe())
            controller = asyncio.create_task(self._control())
            await self._done.wait()
            for t in (observer, controller, *self._tasks):
                t.cancel()
            await self.link.drain(5.0)
            if self.restarted:
                raise WorkerError(self.restarted)
        finally:
            await self.aclose()

    def stop(self) -> None:
        """End `serve()` as if the run had said stop (e.g. the process that spawned this worker is gone)."""
        if self._spec is not None and not self._spec.done():
            self._spec.set_exception(WorkerError("stopped before the run published its scenario"))
        self._done.set()

    async def _build(self, msg: SpecMessage) -> None:
        scenario = ScenarioSpec.model_validate(msg.scenario)
        unknown = [n for n in self.names if n not in scenario.agent_names]
        if unknown:
            known = ", ".join(scenario.agent_names)
            raise WorkerError(f"--agents: {', '.join(unknown)} not in run {self.run!r} (its agents: {known})")
        llm = self._llm
        if llm is None:
            from sociallm.backbone import make_backbone

            url = self._backend_url or msg.backend_url
            if url:
                llm = await make_backbone("openai", url=url, model=self._model or msg.model)
            else:
                llm = await make_backbone("embedded")
            self._owned_llm = llm
        self.llm = MeteredLLM(llm, self._emit, lambda: self.tick, log_prompts=scenario.backbone.log_prompts)
        run_dir = await asyncio.to_thread(self._local_dir, Path(msg.run_dir))
        # Exactly what the run process builds (orchestration/resources.py), environment included.
        self.resources = build_resources(
            scenario, llm=self.llm, backend=llm, emit=self._emit, tick=lambda: self.tick, run_dir=run_dir
        )
        self._shared = self.resources.cache
        for a in scenario.agents:
            if a.name in self.names:
                ctx = section_context(self.resources, a)
                self.agents[a.name] = Agent(a, scenario, msg.rules.get(a.name, ""), self.llm, build_sections(ctx))

    def _local_dir(self, run_dir: Path) -> Path:
        if run_dir.is_dir():
            return run_dir
        # Another machine: sections keep their files (e.g. memory) here instead.
        local = Path("runs") / self.run / f"worker-{self.id}"
        local.mkdir(parents=True, exist_ok=True)
        return local

    async def _emit(self, event: Event) -> Event:
        """Sections and the metered model publish through here: the run process stamps and logs."""
        self._outbox.append(event)
        return event

    def _hello(self, connection: int) -> None:
        """Announce (again after every reconnect) which agents this worker hosts."""
        if getattr(self, "_announced", False):
            self._send(Up(kind="ready", worker=self.id, agents=self.names, epoch=connection))

    def _send(self, up: Up) -> None:
        """Sealed for the run, signed with the key of every agent it speaks for."""
        assert self.link is not None
        topic = control_topic(self.run, "up", self.id)
        agents = speaks_for(up) or set(self.names)
        body = pack(up.model_dump_json().encode(), agents, self.credential, topic)
        self.link.publish(topic, self.signer.wrap(topic, body, agents), label=up.kind)

    def _flush(self) -> list[Event]:
        out, self._outbox = self._outbox, []
        return out

    async def _observe(self) -> None:
        assert self.stream is not None
        while True:
            ev = await self.stream.queue.get()
            if ev.kind == "system" and ev.payload.get("event") == "round_start":
                self.tick = ev.tick
            for agent in self.agents.values():
                agent.observe(ev)
            if ev.kind == "system" and ev.payload.get("event") == "run_end":
                self._done.set()
            if self.stream.queue.empty() and self._outbox:
                self._send(Up(kind="propose", worker=self.id, events=self._flush()))

    async def _control(self) -> None:
        while True:
            down, epoch = await self._downs.get()
            if epoch != self.run_epoch:
                self._drop(f"down/{down.agent or '_all'}", "a request of another process of this run")
                continue
            if down.kind == "stop":
                self._done.set()
                return
            if down.kind == "ping":  # the run reconnected and asks who is still here
                self._hello(self.link.connections if self.link else 0)
                continue
            if down.worker != self.signer.instance:
                self._drop(f"down/{down.agent}", "a request for another process of this worker")
                continue
            task = asyncio.create_task(self._answer(down))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, down: Down) -> None:
        agent = self.agents.get(down.agent)
        if agent is None:
            self.refused.append(down.agent)
            log.warning("refused a %s request for %r: this worker hosts %s", down.kind, down.agent, self.names)
            return  # the run hears nothing and records a no-show: a worker acts only for its own agents
        try:
            if down.load_state is not None:
                agent.load_state(down.load_state)
            assert self.stream is not None
            if not await self.stream.wait_for(down.upto, self.sync_timeout_s):
                raise WorkerError(f"events up to seq {down.upto} did not arrive within {self.sync_timeout_s} s")
            reply = Up(kind="reply", worker=self.id, agent=down.agent, reply_to=down.id)
            if down.kind == "turn" and down.turn is not None:
                reply.event = await agent.act(down.turn.turn())
            elif down.kind == "after" and down.event is not None:
                await agent.after_act(down.event)
            elif down.kind == "state":
                reply.state = agent.state()
            reply.events = self._flush()
            self._send(reply)
        except Exception as exc:
            log.exception("worker %s failed a %s for %s", self.id, down.kind, down.agent)
            err = Up(
                kind="error", worker=self.id, agent=down.agent, reply_to=down.id, error=f"{type(exc).__name__}: {exc}"
            )
            err.events = self._flush()
            self._send(err)

    async def aclose(self) -> None:
        for agent in self.agents.values():
            for section in agent.sections:
                await section.aclose()
        await close_shared_encoder(getattr(self, "_shared", {}))
        if (llm := getattr(self, "_owned_llm", None)) is not None:
            await llm.aclose()
        if self.link is not None:
            await self.link.aclose(drain_s=2.0)


def run_worker(run: str, agents: list[str], config: BrokerConfig, *, exit_with_stdin: bool = False, **kw: Any) -> None:
    """Blocking entry point for `sociallm worker`."""

    async def main() -> None:
        worker = Worker(run, agents, config, **kw)
        if exit_with_stdin:  # spawned by a run: when its pipe closes (the run process died), stop too
            loop = asyncio.get_running_loop()

            def wait_eof() -> None:
                import sys

                while sys.stdin.buffer.read(4096):
                    pass
                loop.call_soon_threadsafe(worker.stop)

            threading.Thread(target=wait_eof, daemon=True).start()
        await worker.serve()

    try:
        asyncio.run(main())
    except BusError:
        raise
