"""The MQTT bus: the same events as the in-process bus, also carried by a real broker (Mosquitto, EMQX…).

The run process stays the one place where events get their `seq`: `MqttBus` is the in-process bus
plus a tap that forwards every stamped event, in order, to `sociallm/<run>/<channel>` at QoS 1. So the
log, the local agents and the environment behave exactly as without a broker, and anything else
(workers hosting agents, the TUI, monitors) listens in through `EventStream`.

The broker may go away: `MqttLink` reconnects with backoff, keeps its session (clean_session off,
a fixed client id) so the broker keeps queueing for it, and re-sends whatever it published without
an acknowledgement. A re-send can deliver an event twice; receivers drop repeats by `seq`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from pydantic import BaseModel, ValidationError

from sociallm.runtime.bus import InProcessBus
from sociallm.runtime.events import Event, topic_for

log = logging.getLogger("sociallm.mqtt")

CONTROL = "_ctl"  # a channel name can never start with "_", so control topics never collide with channels
# Measured here: without TCP_NODELAY a QoS 1 round trip costs ~88 ms of Nagle + delayed ACK; with it ~1 ms.
NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


# Publishes awaiting their acknowledgement at once: aiomqtt scans all pending calls on every publish, so an
# unbounded window costs O(n²) (measured: 930 events/s at 3,000 in flight).
WINDOW = 64


class BusError(RuntimeError):
    """A broker problem the user must fix (bad URL, unreachable broker, refused credentials)."""


class BrokerConfig(BaseModel):
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive: int = 30

    @property
    def url(self) -> str:
        """The URL without the password, for logs and manifests."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_bus_url(url: str, *, ca_file: str | None = None) -> BrokerConfig:
    """`mqtt://[user[:password]@]host[:port]` or `mqtts://...` (TLS) into a config, or a one-line BusError."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BusError(f"--bus {url!r}: expected mqtt://host:port or mqtts://host:port (e.g. mqtt://127.0.0.1:1883)")
    if not parts.hostname:
        raise BusError(f"--bus {url!r}: no broker host; e.g. mqtt://127.0.0.1:1883")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise BusError(f"--bus {url!r}: the port must be a number, e.g. mqtt://127.0.0.1:1883") from None
    return BrokerConfig(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=parts.scheme == "mqtts" or ca_file is not None,
        ca_file=ca_file,
    )


def control_topic(run: str, *parts: str) -> str:
    return "/".join(("sociallm", run, CONTROL, *parts))


OnMessage = Callable[[str, bytes], None]


class MqttLink:
    """One resilient client connection: ordered QoS 1 publishing that survives broker restarts."""

    def __init__(
        self,
        config: BrokerConfig,
        client_id: str,
        subscriptions: list[str] | None = None,
        on_message: OnMessage | None = None,
        *,
        nodelay: bool = True,
        max_delay_s: float = 2.0,
        will: Callable[[int], tuple[str, bytes]] | None = None,
        on_connect: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.subscriptions = list(subscriptions or [])
        self.on_message = on_message
        self.nodelay = nodelay
        self.max_delay_s = max_delay_s
        # will(n): what the broker publishes if connection n dies without a goodbye (a killed process).
        self.will = will
        self.on_connect = on_connect
        self.connected = asyncio.Event()
        self.connections = 0
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._unacked: OrderedDict[int, tuple[str, bytes, int, bool]] = OrderedDict()
        self._next = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_error = ""
        self._refused = ""

    def _client(self) -> aiomqtt.Client:
        tls = None
        if self.config.tls:
            tls = aiomqtt.TLSParameters(ca_certs=self.config.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client = aiomqtt.Client(
            self.config.host,
            self.config.port,
            identifier=self.client_id,
            clean_session=False,
            username=self.config.username,
            password=self.config.password,
            tls_params=tls,
            keepalive=self.config.keepalive,
            socket_options=NODELAY if self.nodelay else (),
            will=aiomqtt.Will(*self.will(1), qos=1) if self.will else None,
            timeout=10,
        )
        # aiomqtt warns on every publish past 10 in flight; a run keeps hundreds in flight by design.
        client.pending_calls_threshold = 1_000_000
        return client

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect (in the background from then on); a BusError if the first connection fails in time."""
        self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")
        waiter = asyncio.create_task(self.connected.wait())
        await asyncio.wait({waiter, self._task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
            await self.aclose(drain_s=0)
            if self._refused:
                raise BusError(
                    f"MQTT broker {self.config.url} refused {self.config.username or 'an anonymous client'} "
                    f"({self._refused}); check the user and password in the URL (mqtt://user:password@host:port)"
                )
            raise BusError(
                f"MQTT broker {self.config.url} did not accept a connection within {timeout_s:.0f} s "
                f"({self._last_error or 'no answer'}); is it running (e.g. `mosquitto -p {self.config.port}`)?"
            ) from None

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Queue one message; it goes out in order, now or after the next reconnect."""
        self._next += 1
        self._unacked[self._next] = (topic, payload, qos, retain)
        self._idle.clear()
        self._queue.put_nowait(self._next)

    @property
    def backlog(self) -> int:
        return len(self._unacked)

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued message was acknowledged by the broker; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except TimeoutError:
            return False

    async def _run(self) -> None:
        delay = 0.05
        client = self._client()
        while not self._closing:
            if self.will and self.connections:
                client._client.will_set(*self.will(self.connections + 1), qos=1)  # each connection its own will
            try:
                async with client:
                    for pattern in self.subscriptions:
                        await client.subscribe(pattern, qos=1)
                    self.connections += 1
                    if self.connections > 1:
                        log.info("%s reconnected to %s", self.client_id, self.config.url)
                    self.connected.set()
                    delay = 0.05
                    if self.on_connect:
                        self.on_connect(self.connections)
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                self._last_error = str(exc)
                if "not authori" in str(exc).lower() or "bad user" in str(exc).lower():
                    log.error("MQTT broker %s refused %s: %s", self.config.url, self.client_id, exc)
                    if not self.connections:  # wrong credentials never fix themselves: fail now, clearly
                        self._refused = str(exc)
                        return
            except asyncio.CancelledError:
                raise
            self.connected.clear()
            if self._closing:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay_s)

    async def _pump(self, client: aiomqtt.Client) -> None:
        # The reader also watches the connection: it ends (with an MqttError) when the broker goes away.
        reader = asyncio.create_task(self._read(client))
        sends: set[asyncio.Task[None]] = set()
        getter: asyncio.Task[int] | None = None

        def launch(key: int) -> None:
            task = asyncio.create_task(self._send(client, key))
            task.key = key  # type: ignore[attr-defined]
            sends.add(task)
            task.add_done_callback(sends.discard)

        try:
            # What went out before a disconnect without an acknowledgement goes out again, first.
            for key in list(self._unacked):
                launch(key)
            while True:
                getter = asyncio.create_task(self._queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    reader.result()
                    raise aiomqtt.MqttError("connection closed")  # keys taken stay in _unacked: re-sent later
                keys = [getter.result()]
                while not self._queue.empty():  # a burst goes out in one pass, without a task per wait
                    keys.append(self._queue.get_nowait())
                in_flight = {getattr(t, "key", None) for t in sends if not t.done()}
                for key in keys:
                    if key in self._unacked and key not in in_flight:
                        while len(sends) >= WINDOW:
                            done, _ = await asyncio.wait({*sends, reader}, return_when=asyncio.FIRST_COMPLETED)
                            if reader in done:
                                reader.result()
                                raise aiomqtt.MqttError("connection closed")
                        launch(key)
        finally:
            helpers = [*sends, reader, *([getter] if getter else [])]
            for t in helpers:
                t.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)  # let them finish before the loop may close

    async def _send(self, client: aiomqtt.Client, key: int) -> None:
        item = self._unacked.get(key)
        if item is None:
            return
        topic, payload, qos, retain = item
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=30)
        except aiomqtt.MqttError:
            return  # left in _unacked: re-sent after the reconnect
        self._unacked.pop(key, None)
        if not self._unacked:
            self._idle.set()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if self.on_message is None:
                continue
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            try:
                self.on_message(str(message.topic), payload)
            except Exception:  # a handler bug must not take the connection down
                log.exception("handler failed for a message on %s", message.topic)

    async def aclose(self, drain_s: float = 10.0) -> None:
        if drain_s and self._unacked and self.connected.is_set():
            if not await self.drain(drain_s):
                log.warning("%s: %d messages not acknowledged by the broker at close", self.client_id, self.backlog)
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, aiomqtt.MqttError):
                pass


class MqttBus(InProcessBus):
    """The in-process bus whose events also go to the broker, in seq order, at QoS 1."""

    def __init__(self, run: str, config: BrokerConfig, start_seq: int = 0, on_control: OnMessage | None = None) -> None:
        super().__init__(run, start_seq)
        self.config = config
        subs = [control_topic(run, "up", "#")] if on_control else []
        self.link = MqttLink(config, f"sociallm-run-{run}", subs, on_control)
        # A tap runs inline right after stamping, so the broker gets events in exactly the log's order.
        self.add_tap("#", self._forward)

    async def start(self, timeout_s: float = 10.0) -> None:
        await self.link.start(timeout_s)

    def _forward(self, event: Event) -> None:
        self.link.publish(topic_for(self.run, event.channel), encode(event))

    def send_control(self, *parts: str, payload: BaseModel | dict[str, Any], retain: bool = False) -> None:
        body = payload.model_dump_json() if isinstance(payload, BaseModel) else _json(payload)
        self.link.publish(control_topic(self.run, *parts), body.encode(), retain=retain)

    async def aclose(self) -> None:
        await super().aclose()
        await self.link.aclose()


def encode(event: Event) -> bytes:
    return event.model_dump_json(exclude_defaults=False).encode()


def decode(run: str, topic: str, payload: bytes) -> tuple[Event | None, str]:
    """An event from a message on the run's topics, or None and the reason it was dropped."""
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
    import json

    return json.dumps(payload, separators=(",", ":"), default=str)


class EventStream:
    """A live run's events, from the broker, exactly once and in seq order.

    Events are held back until the ones before them arrived (a broker restart can re-deliver or
    reorder around the reconnect); repeats are dropped. `start_seq` is the last seq already known
    (0 = from the beginning); None starts at whatever arrives first (attaching to a run mid-way).
    """

    def __init__(self, run: str, start_seq: int | None = 0) -> None:
        self.run = run
        self.last = start_seq
        self._held: dict[int, Event] = {}
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.dropped: list[str] = []
        self.repeats = 0
        self.advanced = asyncio.Event()

    def feed(self, topic: str, payload: bytes) -> None:
        ev, why = decode(self.run, topic, payload)
        if ev is None:
            self.dropped.append(f"{topic}: {why}")
            log.warning("dropped a message on %s: %s", topic, why)
            return
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
    config: BrokerConfig, run: str, client_id: str, start_seq: int | None = 0
) -> tuple[MqttLink, EventStream]:
    """Subscribe to a live run's events; returns the started link and the ordered stream."""
    stream = EventStream(run, start_seq)
    link = MqttLink(config, client_id, [f"sociallm/{run}/+"], stream.feed)
    await link.start()
    return link, stream
