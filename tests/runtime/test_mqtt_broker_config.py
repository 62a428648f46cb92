"""The shipped examples/mosquitto config on a real Mosquitto: accounts, topic ACLs, TLS, a run across accounts."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from sociallm.orchestration.remote import Distribution
from sociallm.orchestration.run import Run
from sociallm.orchestration.worker import Worker
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.mqtt import BusError, MqttLink, listen, parse_bus_url
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM
from tests.runtime.broker import MOSQUITTO, example_broker
from tests.runtime.test_worker import run_key

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(MOSQUITTO is None or not shutil.which("mosquitto_passwd"), reason="needs mosquitto"),
]

USERS = {"runner": "run-pw-1", "worker1": "w1-pw-2", "watcher": "watch-pw-3"}


@pytest.fixture
async def lab(tmp_path):
    broker, tls_port, certs = example_broker(tmp_path / "broker", USERS)
    await broker.start()
    yield broker, tls_port, certs
    await broker.stop()


def url(user: str, port: int, tls: bool = True) -> str:
    return f"{'mqtts' if tls else 'mqtt'}://{user}:{USERS[user]}@127.0.0.1:{port}"


async def test_anonymous_and_wrong_passwords_are_refused(lab):
    broker, tls_port, _certs = lab
    for bad in (f"mqtt://127.0.0.1:{broker.port}", f"mqtt://watcher:nope@127.0.0.1:{broker.port}"):
        link = MqttLink(parse_bus_url(bad), "intruder")
        with pytest.raises(BusError, match="refused"):
            await link.start(timeout_s=5)
    link = MqttLink(parse_bus_url(f"mqtts://runner@127.0.0.1:{tls_port}"), "no-ca")  # TLS without our CA
    with pytest.raises(BusError, match=r"TLS failed .*--bus-ca"):
        await link.start(timeout_s=5)


async def test_accounts_may_publish_only_where_the_acl_says(lab):
    _broker, tls_port, certs = lab
    ca = str(certs["ca"])
    heard: list[str] = []

    def hear(topic: str, payload: bytes) -> None:
        heard.append(f"{topic} {payload.decode()}")

    spy = MqttLink(parse_bus_url(url("runner", tls_port), ca_file=ca), "spy", ["sociallm/acl-1/#"], hear)
    await spy.start()
    links = {u: MqttLink(parse_bus_url(url(u, tls_port), ca_file=ca), f"c-{u}") for u in ("worker1", "watcher")}
    for link in links.values():
        await link.start()
    links["watcher"].publish("sociallm/acl-1/public", b"watcher-event")  # read-only: dropped by the broker
    links["worker1"].publish("sociallm/acl-1/public", b"worker-event")  # only the run publishes events
    links["worker1"].publish("sociallm/acl-1/_ctl/up/local0", b"worker-as-other")  # not its own up topic
    links["worker1"].publish("sociallm/acl-1/_ctl/up/worker1", b"worker-own")  # allowed
    for link in links.values():
        assert await link.drain(5)
        await link.aclose()
    await asyncio.sleep(0.5)
    await spy.aclose()
    assert heard == ["sociallm/acl-1/_ctl/up/worker1 worker-own"]


async def test_a_run_across_accounts_over_tls(lab, tmp_path):
    """The run as `runner`, a remote worker as `worker1` (--id worker1), a watcher as `watcher`; all TLS."""
    _broker, tls_port, certs = lab
    ca = str(certs["ca"])
    key = run_key(tmp_path / "r", "acct-1")
    link, stream = await listen(
        parse_bus_url(url("watcher", tls_port), ca_file=ca), "acct-1", "w", credential=key.for_watcher()
    )
    worker_cfg = parse_bus_url(url("worker1", tls_port), ca_file=ca)
    bob = key.for_agents(["Bob"])
    worker = Worker("acct-1", ["Bob"], worker_cfg, credential=bob, llm=FakeLLM(), worker_id="worker1")
    task = asyncio.create_task(worker.serve())
    dist = Distribution(bus=parse_bus_url(url("runner", tls_port), ca_file=ca), remote_agents=["Bob"], timeout_s=20)
    spec = load_scenario("bertrand", {"rounds": 2})
    result = await Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="acct-1", distribution=dist).execute()
    await asyncio.wait_for(task, 10)
    logged = read_events(tmp_path / "r" / "events.jsonl").events
    heard = [await asyncio.wait_for(stream.queue.get(), 10) for _ in logged]
    await link.aclose()
    assert result.status == "completed" and [e.id for e in heard] == [e.id for e in logged]
    assert any(e.source == "Bob" and e.kind == "message" and not e.payload.get("no_show") for e in logged)
