"""The MQTT bus: the same events as the in-process bus, also carried by a real broker (Mosquitto, EMQX…).

The run process stays the one place where events get their `seq`: `MqttBus` is the in-process bus
plus a tap that forwards every stamped event, in order, signed (and sealed where not every agent may
read it), to `sociallm/<run>/<channel>` at QoS 1. So the log, the local agents and the environment
behave exactly as without a broker, and anything else (workers hosting agents, the TUI, monitors)
listens in through `EventStream`, which checks every message and puts events back in order. The
connection itself is `MqttLink` (mqtt_link.py); keys and envelopes are in mqtt_security.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from sociallm.runtime.bus import InProcessBus
from sociallm.runtime.events import Event, topic_for
from sociallm.runtime.mqtt_link import (  # noqa: F401 - the bus's public names, importable from here
    CONTROL,
    ENV_DEBUG,
    ENV_PASSWORD,
    BrokerConfig,
    BusError,
    MqttLink,
    OnMessage,
    control_topic,
    parse_bus_url,
)
from sociallm.runtime.mqtt_security import (
    RUN,
    SEALED,
    Credential,
    DropLog,
    Dropped,
    Gate,
    ReadPolicy,
    RunSigner,
    seal,
    seal_bytes,
    unseal,
    unseal_bytes,
)

log = logging.getLogger("sociallm.mqtt")


# -- sealed bodies ---------------------------------------------------------------------------------------
def pack(plain: bytes, readers: set[str] | list[str], credential: Credential, aad: str) -> bytes:
    """A control message body only `readers` (agents, or WATCH) can open."""
    return seal_bytes(plain, readers, credential.reader_key, aad.encode())


def unpack(body: bytes, credential: Credential, aad: str) -> bytes | None:
    """The plain body (sealed ones opened); None when it is sealed and not for us."""
    if not body.startswith(SEALED):
        return body
    return unseal_bytes(body, credential.reader_key, aad.encode())


def _event_aad(run: str, topic: str, event: Event) -> bytes:
    return f"{run}|{topic}|{event.id}|{event.seq}".encode()


def encode_event(event: Event, policy: ReadPolicy, credential: Credential, topic: str) -> bytes:
    """The event as it goes on the broker: its payload sealed when not every agent may read it."""
    readers = policy.readers(event.kind, event.source, event.channel, event.to)
    if readers is None:
        return encode(event)
    plain = json.dumps(event.payload, separators=(",", ":"), default=str).encode()
    sealed = seal(plain, readers, credential.reader_key, _event_aad(event.run, topic, event))
    return event.model_copy(update={"payload": {"sealed": sealed}}).model_dump_json().encode()


class MqttBus(InProcessBus):
    """The in-process bus whose events also go to the broker, signed, in seq order, at QoS 1."""

    def __init__(
        self,
        run: str,
        config: BrokerConfig,
        start_seq: int = 0,
        on_control: OnMessage | None = None,
        *,
        credential: Credential,
        on_connect: Callable[[int], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(run, start_seq)
        self.config = config
        self.credential = credential.check_run(run, "the bus key")
        # The epoch is this process's start: messages of an earlier process of a resumed run lose against it.
        self.signer = RunSigner(credential, epoch=time.time_ns(), base=start_seq)
        self.policy = ReadPolicy()
        # One agent per worker: events carry an HMAC under its key, which that worker checks cheaply.
        self.mac_agents: list[str] = []
        subs = [control_topic(run, "up", "#")] if on_control else []
        self.link = MqttLink(
            config, f"sociallm-run-{run}", subs, on_control, on_connect=on_connect, on_disconnect=on_disconnect
        )
        # A tap runs inline right after stamping, so the broker gets events in exactly the log's order.
        self.add_tap("#", self._forward)

    @property
    def epoch(self) -> int:
        return self.signer.epoch

    async def start(self, timeout_s: float = 10.0) -> None:
        await self.link.start(timeout_s)

    def _forward(self, event: Event) -> None:
        topic = topic_for(self.run, event.channel)
        body = encode_event(event, self.policy, self.credential, topic)
        self.link.publish(topic, self.signer.wrap(topic, body, self.mac_agents), label=f"seq {event.seq}")

    def send_control(
        self,
        *parts: str,
        payload: BaseModel | dict[str, Any],
        retain: bool = False,
        readers: set[str] | list[str] | None = None,
        only_for: str | None = None,
    ) -> None:
        """A signed control message; with `readers`, sealed so that only they (and the run) can read it.

        `only_for`: a request to one agent's worker, authenticated with that agent's key alone (no signature).
        """
        topic = control_topic(self.run, *parts)
        body = (payload.model_dump_json() if isinstance(payload, BaseModel) else _json(payload)).encode()
        if readers is not None:
            body = pack(body, readers, self.credential, topic)
        if only_for is not None:
            data = self.signer.wrap(topic, body, [only_for], sign=False)
        else:
            data = self.signer.wrap(topic, body)
        self.link.publish(topic, data, retain=retain, label="/".join(parts))

    def clear_retained(self, *parts: str) -> None:
        """An empty retained message removes the retained one (nothing to sign: it carries nothing)."""
        self.link.publish(control_topic(self.run, *parts), b"", retain=True, label="clear " + "/".join(parts))

    async def aclose(self) -> None:
        await super().aclose()
        await self.link.aclose()


def encode(event: Event) -> bytes:
    return event.model_dump_json(exclude_defaults=False).encode()


def decode(run: str, topic: str, payload: bytes) -> tuple[Event | None, str]:
    """An event from a message body on the run's topics, or None and the reason it was dropped."""
    try:
        ev = Event.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        return None, f"not an event ({where}: {first.get('msg')})"
    if ev.run != run:
        return None, f"event of run {ev.run!r} on run {run!r}'s topic"
    if topic != topic_for(run, ev.channel):
        return None, f"event of channel {ev.channel!r} on topic {topic}"
    if ev.seq < 1:
        return None, "event without a sequence number (only the run process publishes events)"
    return ev, ""


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)


class EventStream:
    """A live run's events, from the broker, exactly once and in seq order, each checked to come from the run.

    Events are held back until the ones before them arrived (a broker restart can re-deliver or
    reorder around the reconnect); repeats are dropped, and so is anything unsigned, mis-signed,
    replayed or from an earlier process of a resumed run. `start_seq` is the last seq already known
    (0 = from the beginning); None starts at whatever arrives first (attaching to a run mid-way).
    Payloads sealed for readers this credential has no key for arrive as `{"sealed": true}`.
    """

    def __init__(
        self, run: str, start_seq: int | None = 0, *, credential: Credential, epoch: int | None = None
    ) -> None:
        self.run = run
        self.last = start_seq
        self.credential = credential
        self.gate = Gate(credential)
        self.epoch = epoch
        self._held: dict[int, Event] = {}
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.drops = DropLog(log)
        self.dropped = self.drops.recent  # the latest reasons, for the UI and tests
        self.repeats = 0
        self.advanced = asyncio.Event()

    def _drop(self, topic: str, why: str) -> None:
        self.drops(topic, why)

    def feed(self, topic: str, payload: bytes) -> None:
        try:
            body, trailer = self.gate.open(topic, payload)
        except Dropped as d:
            if d.replay:  # a QoS 1 re-delivery after a reconnect looks exactly like a replay; both are harmless here
                self.repeats += 1
                log.debug("dropped a message on %s: %s", topic, d.reason)
            else:
                self._drop(topic, d.reason)
            return
        if trailer.s != RUN:
            return self._drop(topic, f"signed by worker {trailer.s!r}; only the run publishes events")
        if self.epoch is not None and trailer.e < self.epoch:
            return self._drop(topic, "from an earlier process of this run (before it resumed)")
        ev, why = decode(self.run, topic, body)
        if ev is None:
            return self._drop(topic, why)
        if ev.seq <= trailer.b:
            return self._drop(topic, f"seq {ev.seq} is not after the seq its run process started from")
        if self.epoch is None or trailer.e > self.epoch:
            self._new_epoch(trailer.e, trailer.b)
        sealed = ev.payload.get("sealed") if len(ev.payload) == 1 else None
        if isinstance(sealed, dict):
            plain = unseal(sealed, self.credential.reader_key, _event_aad(self.run, topic, ev))
            ev.payload = json.loads(plain) if plain is not None else {"sealed": True}
        if self.last is None:
            self.last = ev.seq - 1
        if ev.seq <= self.last or ev.seq in self._held:
            self.repeats += 1
            return
        self._held[ev.seq] = ev
        while (nxt := self._held.pop(self.last + 1, None)) is not None:
            self.last = nxt.seq
            self.queue.put_nowait(nxt)
        self.advanced.set()

    def _new_epoch(self, epoch: int, base: int) -> None:
        if self.epoch is not None:
            # The run resumed from its checkpoint at seq `base`: what we hold past it belonged to the abandoned tail.
            log.info("run %s resumed from seq %d (a new run process)", self.run, base)
            self._held = {s: e for s, e in self._held.items() if s <= base}
            if self.last is not None and self.last > base:
                self.last = base
        self.epoch = epoch

    async def wait_for(self, seq: int, timeout_s: float) -> bool:
        """Until every event up to `seq` was delivered to the queue; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (self.last or 0) < seq:
            self.advanced.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.advanced.wait(), left)
            except TimeoutError:
                return False
        return True


async def listen(
    config: BrokerConfig, run: str, client_id: str, start_seq: int | None = 0, *, credential: Credential
) -> tuple[MqttLink, EventStream]:
    """Subscribe to a live run's events; returns the started link and the ordered, checked stream."""
    stream = EventStream(run, start_seq, credential=credential)
    link = MqttLink(config, client_id, [f"sociallm/{run}/+"], stream.feed)
    await link.start()
    return link, stream
