"""MqttBus on a real broker: order, repeats, garbage, restarts, URLs."""

from __future__ import annotations

import asyncio

import pytest

from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import BusError, EventStream, MqttBus, encode, listen, parse_bus_url
from sociallm.runtime.mqtt_security import Credential, RunSigner
from tests.runtime.broker import MOSQUITTO, make_broker

pytestmark = pytest.mark.integration


@pytest.fixture
async def broker(tmp_path):
    b = make_broker(tmp_path)
    await b.start()
    yield b
    await b.stop()


KEYS: dict[str, Credential] = {}


def key(run: str) -> Credential:
    """One run key per run id, shared by the run's bus and its listeners in a test."""
    return KEYS.setdefault(run, Credential.generate(run))


def bus_for(run: str, cfg) -> MqttBus:
    return MqttBus(run, cfg, credential=key(run))


async def listener(cfg, run: str, client_id: str):
    return await listen(cfg, run, client_id, credential=key(run).for_watcher())


def msg(i: int, channel: str = "public") -> Event:
    return Event(kind="message", source="Alice", channel=channel, tick=1, payload={"text": f"m{i}"})


async def collect(stream: EventStream, n: int, timeout_s: float = 10.0) -> list[Event]:
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(stream.queue.get(), timeout_s))
    return out


async def test_events_reach_a_listener_in_order(broker):
    cfg = parse_bus_url(broker.url)
    link, stream = await listener(cfg, "r1", "listener-1")
    bus = bus_for("r1", cfg)
    await bus.start()
    sent = [await bus.publish(msg(i, "public" if i % 2 else "backroom")) for i in range(200)]
    got = await collect(stream, 200)
    assert [e.seq for e in got] == list(range(1, 201))
    assert [e.id for e in got] == [e.id for e in sent]
    await bus.aclose()
    await link.aclose()


def test_stream_drops_repeats_and_reorders():
    s = EventStream("r", credential=key("r").for_watcher())
    signer = RunSigner(key("r"), epoch=1)
    evs = [msg(i) for i in range(4)]
    wire = []
    for i, e in enumerate(evs, 1):
        e.seq, e.run = i, "r"
        wire.append(signer.wrap("sociallm/r/public", encode(e)))
    again = signer.wrap("sociallm/r/public", encode(evs[1]))  # the same event signed anew: a repeat by seq
    for data in (wire[1], wire[0], wire[0], wire[3], wire[2], again):
        s.feed("sociallm/r/public", data)
    assert [s.queue.get_nowait().seq for _ in range(4)] == [1, 2, 3, 4]
    assert s.repeats == 2 and s.queue.empty() and not s.dropped


def test_stream_drops_garbage_with_a_reason():
    s = EventStream("r", credential=key("r").for_watcher())
    signer = RunSigner(key("r"), epoch=1)

    def signed(body: bytes, topic: str = "sociallm/r/public") -> bytes:
        return signer.wrap(topic, body)

    s.feed("sociallm/r/public", signed(b"\x00not json"))
    s.feed("sociallm/r/public", signed(b'{"kind": "message"}'))
    foreign = msg(1)
    foreign.seq, foreign.run = 1, "other"
    s.feed("sociallm/r/public", signed(encode(foreign)))
    unstamped = msg(2)
    unstamped.run = "r"
    s.feed("sociallm/r/public", signed(encode(unstamped)))
    wrong_topic = msg(3, "backroom")
    wrong_topic.seq, wrong_topic.run = 1, "r"
    s.feed("sociallm/r/public", signed(encode(wrong_topic)))
    plain = msg(4)
    plain.seq, plain.run = 1, "r"
    s.feed("sociallm/r/public", encode(plain))  # unsigned
    s.feed("sociallm/r/public", signed(encode(plain), "sociallm/r/backroom"))  # signed for another topic
    assert s.queue.empty()
    assert len(s.dropped) == 7
    assert "not an event" in s.dropped[0] and "source: Field required" in s.dropped[1]
    assert "run 'other'" in s.dropped[2] and "sequence" in s.dropped[3] and "channel 'backroom'" in s.dropped[4]
    assert "unsigned" in s.dropped[5] and "mis-signed" in s.dropped[6]


async def test_garbage_on_the_broker_is_ignored(broker):
    cfg = parse_bus_url(broker.url)
    link, stream = await listener(cfg, "r2", "listener-2")
    bus = bus_for("r2", cfg)
    await bus.start()
    bus.link.publish("sociallm/r2/public", b"garbage")
    await bus.publish(msg(1))
    (got,) = await collect(stream, 1)
    assert got.seq == 1 and stream.dropped and "unsigned" in stream.dropped[0]
    await bus.aclose()
    await link.aclose()


@pytest.mark.skipif(MOSQUITTO is None, reason="needs the mosquitto binary (its sessions persist across a restart)")
async def test_broker_restart_loses_nothing_and_repeats_nothing(broker):
    cfg = parse_bus_url(broker.url)
    link, stream = await listener(cfg, "r3", "listener-3")
    bus = bus_for("r3", cfg)
    await bus.start()
    sent = [await bus.publish(msg(i)) for i in range(50)]
    await bus.link.drain()
    await broker.stop()
    sent += [await bus.publish(msg(i)) for i in range(50, 100)]  # queued while the broker is down
    await asyncio.sleep(0.3)
    await broker.start()
    sent += [await bus.publish(msg(i)) for i in range(100, 150)]
    got = await collect(stream, 150, timeout_s=20)
    assert [e.id for e in got] == [e.id for e in sent]
    await asyncio.sleep(0.2)
    assert stream.queue.empty()
    assert bus.link.connections >= 2 and link.connections >= 2
    await bus.aclose()
    await link.aclose()


async def test_unreachable_broker_is_a_one_line_error():
    from tests.runtime.broker import free_port

    bus = bus_for("r4", parse_bus_url(f"mqtt://127.0.0.1:{free_port()}"))
    with pytest.raises(BusError, match="did not accept a connection"):
        await bus.start(timeout_s=1.0)


@pytest.mark.parametrize(
    ("url", "problem"),
    [("http://x:1", "expected mqtt://"), ("mqtt://:1883", "no broker host"), ("mqtt://h:port", "must be a number")],
)
def test_bad_bus_urls(url, problem):
    with pytest.raises(BusError, match=problem):
        parse_bus_url(url)


def test_bus_url_credentials_and_tls():
    cfg = parse_bus_url("mqtts://bob:s%40cret@broker.lab:8884")
    assert (cfg.host, cfg.port, cfg.username, cfg.password, cfg.tls) == ("broker.lab", 8884, "bob", "s@cret", True)
    assert "s@cret" not in cfg.url
    assert parse_bus_url("mqtt://h").port == 1883


async def test_the_pure_python_fallback_broker_carries_a_run(tmp_path):
    """CI has mosquitto, so the fallback would otherwise go untested."""
    from tests.runtime.broker import AmqttBroker

    b = AmqttBroker(tmp_path)
    await b.start()
    try:
        cfg = parse_bus_url(b.url)
        link, stream = await listener(cfg, "r5", "listener-5")
        bus = bus_for("r5", cfg)
        await bus.start()
        sent = [await bus.publish(msg(i)) for i in range(20)]
        got = await collect(stream, 20)
        assert [e.id for e in got] == [e.id for e in sent]
        await bus.aclose()
        await link.aclose()
    finally:
        await b.stop()


@pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto and mosquitto_passwd")
async def test_username_and_password(tmp_path):
    import shutil
    import subprocess

    if not shutil.which("mosquitto_passwd"):
        pytest.skip("needs mosquitto_passwd")
    passwords = tmp_path / "passwords"
    await asyncio.to_thread(
        subprocess.run, ["mosquitto_passwd", "-b", "-c", str(passwords), "bob", "s3cret"], check=True
    )
    from tests.runtime.broker import Mosquitto

    b = Mosquitto(tmp_path / "b", passwords=passwords)
    await b.start()
    try:
        good = bus_for("auth-1", parse_bus_url(f"mqtt://bob:s3cret@127.0.0.1:{b.port}"))
        await good.start()
        await good.publish(msg(1))
        assert await good.link.drain(5)
        await good.aclose()
        bad = bus_for("auth-1", parse_bus_url(f"mqtt://bob:wrong@127.0.0.1:{b.port}"))
        with pytest.raises(BusError, match=r"refused bob .*check the user and password"):
            await bad.start(timeout_s=5)
    finally:
        await b.stop()


@pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto and mosquitto_sub")
async def test_what_a_killed_broker_acknowledged_but_never_saved_still_reaches_a_persistent_subscriber(tmp_path):
    """The loss of issue 21: acked by the broker, queued for an offline subscriber, gone with a kill -9."""
    from tests.runtime.broker import Mosquitto
    from tests.runtime.restarts import ThirdParty

    broker = Mosquitto(tmp_path / "b", autosave_s=3600)  # saves only when told to (or on a clean exit)
    await broker.start()
    third = ThirdParty(broker.port, "third-k", "kill-1", tmp_path / "third-1.txt")
    await asyncio.sleep(0.5)
    await broker.save()  # its session (the subscription) is on disk
    third.stop()  # ... and it goes offline: the broker queues for it
    bus = bus_for("kill-1", parse_bus_url(broker.url))
    await bus.start()
    for i in range(20):
        await bus.publish(msg(i))
    assert await bus.link.drain(5)  # all acknowledged: queued for the third party, in memory only
    await broker.kill()
    await broker.start()
    for _ in range(100):
        if bus.link.connections >= 2 and bus.link.backlog == 0:
            break
        await asyncio.sleep(0.05)
    third = ThirdParty(broker.port, "third-k", "kill-1", tmp_path / "third-2.txt")
    try:
        assert await third.wait_for(set(range(1, 21)), 10) == set()
        assert bus.link.republished >= 20
    finally:
        third.stop()
        await bus.aclose()
        await broker.stop()


@pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto and mosquitto_sub")
async def test_a_broker_without_persistence_gives_resubscribers_the_recent_events_again(tmp_path):
    """No session survives: a listener subscribes again after reconnecting, maybe after we published."""
    from tests.runtime.broker import Mosquitto
    from tests.runtime.restarts import ThirdParty

    broker = Mosquitto(tmp_path / "b", persistence=False)
    await broker.start()
    third = ThirdParty(broker.port, "third-n", "nopersist-1", tmp_path / "third-1.txt")
    await asyncio.sleep(0.5)
    bus = bus_for("nopersist-1", parse_bus_url(broker.url))
    await bus.start()
    for i in range(10):
        await bus.publish(msg(i))
    assert await third.wait_for(set(range(1, 11)), 5) == set()
    third.stop()
    await broker.stop()
    await broker.start()
    for _ in range(100):
        if bus.link.connections >= 2:
            break
        await asyncio.sleep(0.05)
    assert bus.link.session_present is False
    for i in range(10, 20):  # published while nobody is subscribed
        await bus.publish(msg(i))
    await asyncio.sleep(1.0)
    third = ThirdParty(broker.port, "third-n", "nopersist-1", tmp_path / "third-2.txt")
    try:
        assert await third.wait_for(set(range(11, 21)), 8) == set()
    finally:
        third.stop()
        await bus.aclose()
        await broker.stop()
