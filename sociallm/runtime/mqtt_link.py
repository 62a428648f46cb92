"""One resilient MQTT connection: ordered QoS 1 publishing that survives broker restarts.

`MqttLink` reconnects with backoff, keeps its session (clean session off, a fixed client id) so the
broker keeps queueing for it, and re-sends whatever it published without an acknowledgement. After a
reconnect it also re-sends what the broker acknowledged shortly before the outage (a killed broker
forgets what it had not saved), and once more a little later when the broker lost every session. A
re-send can deliver a message twice; receivers drop repeats (by seq, and by the signature's counter).
`SOCIALLM_BUS_DEBUG` logs every publish, acknowledgement, re-send and reconnect, with the broker's
session-present flag.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiomqtt
from pydantic import BaseModel, Field

from sociallm.runtime.rundir import redact

log = logging.getLogger("sociallm.mqtt")
# The link's own story (publish, puback, resend, reconnect, session-present), for `SOCIALLM_BUS_DEBUG`.
link_log = logging.getLogger("sociallm.mqtt.link")
# paho's own lines ("failed to receive on socket" on every broker restart) say what we report better; kept
# for the debug log only.
paho_log = logging.getLogger("sociallm.mqtt.paho")
paho_log.setLevel(logging.CRITICAL)
ENV_PASSWORD = "SOCIALLM_BUS_PASSWORD"
ENV_DEBUG = "SOCIALLM_BUS_DEBUG"  # 1: debug lines on stderr; a path: appended to that file (workers inherit it)

CONTROL = "_ctl"  # a channel name can never start with "_", so control topics never collide with channels
# Measured here: without TCP_NODELAY a QoS 1 round trip costs ~88 ms of Nagle + delayed ACK; with it ~1 ms.
NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


# Publishes awaiting their acknowledgement at once: aiomqtt scans all pending calls on every publish, so an
# unbounded window costs O(n²) (measured: 930 events/s at 3,000 in flight).
WINDOW = 64
# After a reconnect, what the broker acknowledged in the last this-many seconds before the connection died
# goes out again: a broker killed before it saved its state (Mosquitto saves every `autosave_interval`)
# forgets messages it had acknowledged and queued for its persistent subscribers, who would never get
# them. Receivers drop the repeats (by seq, and by counter). Keep the broker's autosave interval well below.
RESEND_WINDOW_S = 10.0
RECENT_MAX = 20_000
# A broker that lost every session (no persistence) lost its subscribers' subscriptions too: they subscribe
# again when they reconnect, after us or before. The recent messages go out once more this long after.
SETTLE_S = 3.0
CONNECT_TIMEOUT_S = 4.0


class BusError(RuntimeError):
    """A broker problem the user must fix (bad URL, unreachable broker, refused credentials)."""


class BrokerConfig(BaseModel):
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None  # a client certificate, for brokers that require one (with key_file)
    key_file: str | None = None
    keepalive: int = 30

    @property
    def url(self) -> str:
        """The URL without the password, for logs, manifests and the command lines of workers."""
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def tls_args(self) -> list[str]:
        """The TLS options a spawned worker needs to reach the same broker (paths, never secrets)."""
        out: list[str] = []
        for flag, value in (
            ("--bus-ca", self.ca_file),
            ("--bus-cert", self.cert_file),
            ("--bus-cert-key", self.key_file),
        ):
            if value:
                out += [flag, str(Path(value).resolve())]
        return out


def parse_bus_url(
    url: str, *, ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> BrokerConfig:
    """`mqtt://[user[:password]@]host[:port]` or `mqtts://...` (TLS) into a config, or a one-line BusError.

    A user without a password in the URL takes it from $SOCIALLM_BUS_PASSWORD, which keeps it off
    command lines (anyone on the machine can read those in `ps`).
    """
    parts = urlsplit(url)
    shown = redact(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BusError(f"--bus {shown!r}: expected mqtt://host:port or mqtts://host:port (e.g. mqtt://127.0.0.1:1883)")
    if not parts.hostname:
        raise BusError(f"--bus {shown!r}: no broker host; e.g. mqtt://127.0.0.1:1883")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise BusError(f"--bus {shown!r}: the port must be a number, e.g. mqtt://127.0.0.1:1883") from None
    if (cert_file is None) != (key_file is None):
        raise BusError("--bus-cert and --bus-cert-key go together: the client certificate and its private key")
    password = unquote(parts.password) if parts.password else None
    if parts.username and password is None:
        password = os.environ.get(ENV_PASSWORD) or None
    return BrokerConfig(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=password,
        tls=parts.scheme == "mqtts" or ca_file is not None or cert_file is not None,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
    )


def control_topic(run: str, *parts: str) -> str:
    return "/".join(("sociallm", run, CONTROL, *parts))


OnMessage = Callable[[str, bytes], None]
_debug_ready = False


def _debug_setup() -> None:
    """Turn on the link's debug log once per process when $SOCIALLM_BUS_DEBUG asks for it."""
    global _debug_ready
    if _debug_ready:
        return
    _debug_ready = True
    where = os.environ.get(ENV_DEBUG, "")
    if not where or where == "0":
        return
    handler = logging.StreamHandler(sys.stderr) if where == "1" else logging.FileHandler(where)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d pid %(process)d %(message)s", "%H:%M:%S"))
    for logger in (link_log, paho_log):
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False


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
        on_disconnect: Callable[[], None] | None = None,
        resend_window_s: float = RESEND_WINDOW_S,
    ) -> None:
        _debug_setup()
        self.config = config
        self.client_id = client_id
        self.subscriptions = list(subscriptions or [])
        self.on_message = on_message
        self.nodelay = nodelay
        self.max_delay_s = max_delay_s
        # will(n): what the broker publishes if connection n dies without a goodbye (a killed process).
        self.will = will
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.resend_window_s = resend_window_s
        self.connected = asyncio.Event()
        self.connections = 0
        self.session_present: bool | None = None
        self.republished = 0
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._unacked: OrderedDict[int, tuple[str, bytes, int, bool, str]] = OrderedDict()
        # Acknowledged lately: (when, key, message); sent again after a reconnect (see RESEND_WINDOW_S).
        self._recent: deque[tuple[float, int, tuple[str, bytes, int, bool, str]]] = deque()
        self._lost_at: float | None = None
        self._resent_from = 0
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
            tls = aiomqtt.TLSParameters(
                ca_certs=self.config.ca_file,
                certfile=self.config.cert_file,
                keyfile=self.config.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
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
            # CONNACK and SUBACK waits: a broker that dies between our TCP connect and its CONNACK leaves aiomqtt
            # waiting this long before we try again (measured: a 10 s wait turned a 2 s outage into 12 s).
            timeout=CONNECT_TIMEOUT_S,
            logger=paho_log,
        )
        # aiomqtt warns on every publish past 10 in flight; a run keeps hundreds in flight by design.
        client.pending_calls_threshold = 1_000_000
        paho = client._client
        original = paho.on_connect

        def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
            # Whether the broker still had our session (subscriptions, queued messages) on this connection.
            self.session_present = bool(getattr(flags, "session_present", False))
            original(c, userdata, flags, reason, properties)  # type: ignore[misc]

        paho.on_connect = on_connect
        return client

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect (in the background from then on); a BusError if the first connection fails in time."""
        self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")
        waiter = asyncio.create_task(self.connected.wait())
        await asyncio.wait({waiter, self._task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
            await self.aclose(drain_s=0)
            who = self.config.username or "an anonymous client"
            if self._refused:
                raise BusError(
                    f"MQTT broker {self.config.url} refused {who} ({self._refused}); check the user and password "
                    f"(mqtt://user@host:port with ${ENV_PASSWORD}, or mqtt://user:password@host:port)"
                )
            if "certificate" in self._last_error.lower() or "ssl" in self._last_error.lower():
                raise BusError(
                    f"MQTT broker {self.config.url}: TLS failed ({self._last_error}); give the CA that signed the "
                    "broker's certificate with --bus-ca FILE (and --bus-cert/--bus-cert-key if it wants a client one)"
                )
            raise BusError(
                f"MQTT broker {self.config.url} did not accept a connection within {timeout_s:.0f} s "
                f"({self._last_error or 'no answer'}); is it running (e.g. `mosquitto -p {self.config.port}`)?"
            ) from None

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, label: str = "") -> None:
        """Queue one message; it goes out in order, now or after the next reconnect."""
        self._next += 1
        self._unacked[self._next] = (topic, payload, qos, retain, label)
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

    def _requeue_recent(self) -> None:
        """Put what the broker acknowledged shortly before the connection died back in line (see RESEND_WINDOW_S)."""
        if self._lost_at is None or self.resend_window_s <= 0:
            self._recent.clear()
            return
        # Counted back from the last acknowledgement, not from when we noticed: a broker that vanished without
        # closing the connection is noticed only after the keepalive, and what it lost is what it acked last.
        last_ack = self._recent[-1][0] if self._recent else self._lost_at
        since = min(last_ack, self._lost_at) - self.resend_window_s
        back = [(key, item) for at, key, item in self._recent if at >= since and key not in self._unacked]
        self._recent.clear()
        self._resent_from = min([k for k, _ in back] + list(self._unacked) + [self._next + 1])
        if not back:
            return
        for key, item in back:
            link_log.debug("%s republish #%d %s (acknowledged before the outage)", self.client_id, key, item[4])
        self._unacked = OrderedDict(sorted([*back, *self._unacked.items()]))
        self._idle.clear()
        self.republished += len(back)

    def _second_pass(self, connection: int) -> None:
        """The broker had lost every session: listeners that just subscribed again get it all once more."""
        if connection != self.connections or not self.connected.is_set():
            return
        back = [(key, item) for _, key, item in self._recent if key >= self._resent_from and key not in self._unacked]
        link_log.debug("%s second pass: republish %d messages from #%d", self.client_id, len(back), self._resent_from)
        for key, item in back:
            self._unacked[key] = item
            self._queue.put_nowait(key)
        if back:
            self._idle.clear()
        self.republished += len(back)

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
                    link_log.debug(
                        "%s connected #%d session_present=%s unacked=%d",
                        self.client_id,
                        self.connections,
                        self.session_present,
                        len(self._unacked),
                    )
                    if self.connections > 1:
                        log.info("%s reconnected to %s", self.client_id, self.config.url)
                        self._requeue_recent()
                        if self.session_present is False and self.resend_window_s > 0:
                            log.warning(
                                "%s: the broker at %s kept no sessions (no `persistence`, or killed before it saved); "
                                "the last messages go out again in %.0f s for listeners that subscribe again by then",
                                self.client_id,
                                self.config.url,
                                SETTLE_S,
                            )
                            asyncio.get_running_loop().call_later(SETTLE_S, self._second_pass, self.connections)
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
            if self.connected.is_set():
                self._lost_at = time.monotonic()
                link_log.debug("%s lost connection #%d: %s", self.client_id, self.connections, self._last_error)
                self.connected.clear()
                if self.on_disconnect and not self._closing:
                    self.on_disconnect()
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
                if self.connections > 1:
                    link_log.debug("%s resend #%d %s", self.client_id, key, self._unacked[key][4])
                while len(sends) >= WINDOW:
                    done, _ = await asyncio.wait({*sends, reader}, return_when=asyncio.FIRST_COMPLETED)
                    if reader in done:
                        reader.result()
                        raise aiomqtt.MqttError("connection closed")
                if key in self._unacked:
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
        topic, payload, qos, retain, label = item
        link_log.debug("%s publish #%d %s %s", self.client_id, key, topic, label)
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=30)
        except aiomqtt.MqttError as exc:
            link_log.debug("%s publish #%d failed (%s): kept for the next connection", self.client_id, key, exc)
            return  # left in _unacked: re-sent after the reconnect
        link_log.debug("%s puback #%d %s", self.client_id, key, label)
        if self._unacked.pop(key, None) is not None and self.resend_window_s > 0:
            now = time.monotonic()
            self._recent.append((now, key, item))
            while self._recent and (len(self._recent) > RECENT_MAX or self._recent[0][0] < now - self.resend_window_s):
                self._recent.popleft()
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
