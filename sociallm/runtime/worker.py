"""A worker: hosts some of a run's agents in another process (or on another machine) over MQTT.

It hears the run's events through the broker, in seq order, and feeds them to its agents exactly
as the run process would; it acts only when asked, and only for the agents it was given. Each
agent keeps its own sections (memory, emotion, theory of mind) here. What they produce is sent
up to the run process, which stamps and logs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sociallm.agents.agent import Agent
from sociallm.agents.sections import SectionContext, build_sections
from sociallm.backbone.base import LLM
from sociallm.backbone.encoders import close_shared_encoder, embeddings_options
from sociallm.backbone.metered import MeteredLLM
from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import CONTROL, BrokerConfig, BusError, EventStream, MqttLink, control_topic
from sociallm.runtime.remote import Down, SpecMessage, Up
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
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self._llm = llm
        self._backend_url = backend_url
        self._model = model
        self.spec_timeout_s = spec_timeout_s
        self.sync_timeout_s = sync_timeout_s
        self.agents: dict[str, Agent] = {}
        self.tick = 0
        self.stream: EventStream | None = None
        self._early: list[tuple[str, bytes]] = []
        self._spec: asyncio.Future[SpecMessage] | None = None
        self._downs: asyncio.Queue[Down] = asyncio.Queue()
        self._outbox: list[Event] = []
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seen: set[str] = set()
        self.link: MqttLink | None = None
        self.llm: MeteredLLM | None = None
        self.refused: list[str] = []

    # -- messages from the broker, in arrival order ----------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) >= 3 and parts[2] == CONTROL:
            self._on_control(parts[3:], payload)
        elif self.stream is None:
            self._early.append((topic, payload))  # events before the spec: held until we know where to start
        else:
            self.stream.feed(topic, payload)

    def _on_control(self, path: list[str], payload: bytes) -> None:
        if path == ["spec"]:
            if not payload or self._spec is None or self._spec.done():
                return
            try:
                self._spec.set_result(SpecMessage.model_validate_json(payload))
            except ValidationError as exc:
                log.warning("dropped the run's spec message: %s", exc.errors()[0]["msg"])
            return
        try:
            down = Down.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("dropped a message on %s: not a run request (%s)", "/".join(path), exc.errors()[0]["msg"])
            return
        if down.id in self._seen:
            return
        self._seen.add(down.id)
        self._downs.put_nowait(down)

    # -- life ----------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Announce the agents, then answer the run until it ends or says stop."""
        self._spec = asyncio.get_running_loop().create_future()
        subs = [f"sociallm/{self.run}/+", control_topic(self.run, "spec"), control_topic(self.run, "down", "_all")]
        subs += [control_topic(self.run, "down", n) for n in self.names]
        up = control_topic(self.run, "up", self.id)

        def will(n: int) -> tuple[str, bytes]:
            return up, Up(kind="gone", worker=self.id, epoch=n).model_dump_json().encode()

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
                spec_msg = await asyncio.wait_for(self._spec, self.spec_timeout_s)
            except TimeoutError:
                raise WorkerError(
                    f"run {self.run!r} published no scenario on {self.config.url} within {self.spec_timeout_s:.0f} s; "
                    "is the run started with --bus on the same broker and this run id?"
                ) from None
            await self._build(spec_msg)
            self.stream = EventStream(self.run, spec_msg.start_seq)
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
        finally:
            await self.aclose()

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
        # "embeddings": where encoder "backbone" asks for the model's own embeddings.
        shared: dict[str, Any] = {"embeddings": embeddings_options(scenario.backbone, llm)}
        self._shared = shared
        for a in scenario.agents:
            if a.name in self.names:
                ctx = SectionContext(a, scenario, self.llm, self._emit, run_dir, lambda: self.tick, shared)
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
        assert self.link is not None
        self.link.publish(control_topic(self.run, "up", self.id), up.model_dump_json().encode())

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
            down = await self._downs.get()
            if down.kind == "stop":
                self._done.set()
                return
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


def run_worker(run: str, agents: list[str], config: BrokerConfig, **kw: Any) -> None:
    """Blocking entry point for `sociallm worker`."""

    async def main() -> None:
        await Worker(run, agents, config, **kw).serve()

    try:
        asyncio.run(main())
    except BusError:
        raise
