"""Keys, signed envelopes, sealed payloads and replay windows, without a broker."""

from __future__ import annotations

import json
import os
import stat

import pytest

from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import EventStream, encode_event
from sociallm.runtime.mqtt_security import (
    WATCH,
    AgentSigner,
    Credential,
    Dropped,
    Gate,
    ReadPolicy,
    RunSigner,
    SecurityError,
    resolve_credential,
    seal,
    unseal,
)

TOPIC = "sociallm/r1/public"


@pytest.fixture
def master() -> Credential:
    return Credential.generate("r1")


def test_a_key_file_is_private_from_the_start_and_round_trips(tmp_path, master):
    path = tmp_path / "bus.key"
    master.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = Credential.load(path)
    assert again == master and again.is_run
    assert "secret" not in repr(again) and again.secret not in repr(again)


def test_narrow_credentials_hold_only_what_their_role_needs(master):
    bob = master.for_agents(["Bob"])
    assert bob.secret is None and bob.watch is None and set(bob.agents) == {"Bob"}
    assert bob.agent_key("Bob") == master.agent_key("Bob") and bob.agent_key("Alice") is None
    watcher = master.for_watcher()
    assert watcher.reader_key(WATCH) == master.reader_key(WATCH) and watcher.agent_key("Bob") is None
    with pytest.raises(SecurityError, match="not the run's own key"):
        bob.for_agents(["Alice"])  # a worker cannot mint keys for other agents
    with pytest.raises(SecurityError, match="not the run's own key"):
        bob.signing_key()


def test_credentials_come_from_a_file_or_the_environment_never_argv(tmp_path, master, monkeypatch):
    monkeypatch.delenv("SOCIALLM_BUS_KEY", raising=False)
    monkeypatch.delenv("SOCIALLM_BUS_KEY_FILE", raising=False)
    with pytest.raises(SecurityError, match="signs its bus messages; give its key"):
        resolve_credential(None, "r1")
    monkeypatch.setenv("SOCIALLM_BUS_KEY", master.for_agents(["Bob"]).model_dump_json())
    assert set(resolve_credential(None, "r1").agents) == {"Bob"}
    with pytest.raises(SecurityError, match="the key is for run 'r1', not 'r2'"):
        resolve_credential(None, "r2")
    (tmp_path / "bad.key").write_text('{"run": "r1"}')
    with pytest.raises(SecurityError, match=r"not a sociallm bus key \(public: Field required"):
        resolve_credential(tmp_path / "bad.key", "r1")


def test_the_run_signature_covers_topic_body_and_run(master):
    signer = RunSigner(master, epoch=5, base=0)
    gate = Gate(master.for_watcher())
    data = signer.wrap(TOPIC, b'{"x":1}')
    body, trailer = gate.open(TOPIC, data)
    assert body == b'{"x":1}' and trailer.s == "run" and trailer.e == 5
    cases = {
        "altered body": data.replace(b'{"x":1}', b'{"x":2}'),
        "moved topic": data,
        "unsigned": b'{"x":1}',
        "garbage trailer": b'{"x":1}\n{"s":',
    }
    reasons = {}
    for name, bad in cases.items():
        with pytest.raises(Dropped) as err:
            Gate(master).open("sociallm/r1/backroom" if name == "moved topic" else TOPIC, bad)
        reasons[name] = err.value.reason
    assert reasons["altered body"].startswith("mis-signed") and reasons["moved topic"].startswith("mis-signed")
    assert reasons["unsigned"].startswith("unsigned") and reasons["garbage trailer"].startswith("unsigned")
    other = Credential.generate("r1")  # same run id, another key: an attacker's own signature
    with pytest.raises(Dropped, match="mis-signed"):
        gate.open(TOPIC, RunSigner(other, epoch=5).wrap(TOPIC, b"{}"))


def test_replays_are_refused_and_counters_are_per_sender_instance(master):
    signer = RunSigner(master, epoch=1)
    gate = Gate(master)
    first = signer.wrap(TOPIC, b"{}")
    gate.open(TOPIC, first)
    with pytest.raises(Dropped, match="replayed") as err:
        gate.open(TOPIC, first)
    assert err.value.replay
    gate.open(TOPIC, RunSigner(master, epoch=1).wrap(TOPIC, b"{}"))  # another instance: its own counters
    gate.open(TOPIC, first, replay_check=False)


def test_a_worker_speaks_only_for_the_agents_whose_keys_it_holds(master):
    bob = master.for_agents(["Bob"])
    signer = AgentSigner(bob, sender="w1", epoch=1)
    topic = "sociallm/r1/_ctl/up/w1"
    _, t = Gate(master).open(topic, signer.wrap(topic, b"{}", ["Bob"]))
    assert t.a == ["Bob"] and t.s == "w1"
    with pytest.raises(SecurityError, match="no key for 'Alice'"):
        signer.wrap(topic, b"{}", ["Alice"])
    # claiming Alice with a MAC made from Bob's key
    data = signer.wrap(topic, b"{}", ["Bob"])
    forged = data.replace(b'"a":["Bob"]', b'"a":["Alice"]').replace(b'{"Bob":', b'{"Alice":')
    with pytest.raises(Dropped, match="not signed with 'Alice'"):
        Gate(master).open(topic, forged)
    with pytest.raises(Dropped, match="unverifiable"):  # a watcher cannot check worker messages, so never trusts them
        Gate(master.for_watcher()).open(topic, signer.wrap(topic, b"{}", ["Bob"]))


def test_sealed_for_some_readers_opens_for_them_only(master):
    aad = b"r1|x"
    box = seal(b"secret plan", ["Alice", WATCH], master.reader_key, aad)
    assert unseal(box, master.for_agents(["Alice"]).reader_key, aad) == b"secret plan"
    assert unseal(box, master.for_watcher().reader_key, aad) == b"secret plan"
    assert unseal(box, master.for_agents(["Bob"]).reader_key, aad) is None
    assert unseal(box, master.for_agents(["Alice"]).reader_key, b"r1|y") is None  # bound to its place
    tampered = dict(box, ct=box["ct"][:-4] + "AAAA")
    assert unseal(tampered, master.reader_key, aad) is None
    assert b"secret plan" not in json.dumps(box).encode()


def test_read_policy_matches_what_agents_see_in_one_process():
    policy = ReadPolicy(agents={"Alice", "Bob", "Carol"}, private={"backroom": {"Alice", "Bob"}})
    assert policy.readers("message", "Alice", "public", []) is None
    assert policy.readers("message", "Alice", "backroom", ["Bob"]) == {"Alice", "Bob", WATCH}
    assert policy.readers("message", "moderator", "backroom", []) == {"Alice", "Bob", WATCH}
    assert policy.readers("observation", "bertrand", "public", ["Carol"]) == {"Carol", WATCH}
    assert policy.readers("llm_call", "Alice", "llm", ["Alice"]) == {"Alice", WATCH}
    assert policy.readers("llm_call", "runtime", "llm", []) == {WATCH}


def test_a_stream_opens_what_its_agents_may_read_and_marks_the_rest_sealed(master):
    policy = ReadPolicy(agents={"Alice", "Bob"})
    signer = RunSigner(master, epoch=1)
    topic = "sociallm/r1/llm"
    secret = {"prompt": "my private cost is 1"}
    call = Event(kind="llm_call", source="Alice", channel="llm", to=["Alice"], payload=secret)
    call.seq, call.run = 1, "r1"
    wire = signer.wrap(topic, encode_event(call, policy, master, topic))
    assert b"private cost" not in wire
    alice = EventStream("r1", credential=master.for_agents(["Alice"]))
    bob = EventStream("r1", credential=master.for_agents(["Bob"]))
    alice.feed(topic, wire)
    bob.feed(topic, wire)
    assert alice.queue.get_nowait().payload == {"prompt": "my private cost is 1"}
    assert bob.queue.get_nowait().payload == {"sealed": True}  # still in order, its content not for Bob


def test_a_resumed_run_process_wins_over_the_earlier_one(master):
    stream = EventStream("r1", credential=master.for_watcher())
    old, new = RunSigner(master, epoch=1), RunSigner(master, epoch=2, base=2)

    def ev(seq: int, text: str) -> Event:
        e = Event(kind="message", source="Alice", payload={"text": text})
        e.seq, e.run = seq, "r1"
        return e

    for i in (1, 2, 3):
        stream.feed(TOPIC, old.wrap(TOPIC, ev(i, f"old {i}").model_dump_json().encode()))
    stream.feed(TOPIC, new.wrap(TOPIC, ev(3, "new 3").model_dump_json().encode()))
    stream.feed(TOPIC, old.wrap(TOPIC, ev(4, "old 4").model_dump_json().encode()))  # the dead process, replayed
    texts = [stream.queue.get_nowait().text for _ in range(stream.queue.qsize())]
    assert texts == ["old 1", "old 2", "old 3", "new 3"]
    assert any("earlier process" in d for d in stream.dropped)


def test_workers_check_the_runs_cheap_marks_and_cannot_forge_them_for_each_other(master):
    signer = RunSigner(master, epoch=1)
    alice, carol = master.for_agents(["Alice"]), master.for_agents(["Carol"])
    data = signer.wrap(TOPIC, b'{"x":1}', ["Alice", "Carol"])
    for key in (alice, carol, master.for_watcher()):  # workers by their mark, the watcher by the signature
        assert Gate(key).open(TOPIC, data)[0] == b'{"x":1}'
    request = signer.wrap(TOPIC, b'{"turn":1}', ["Carol"], sign=False)  # for Carol's worker alone
    assert Gate(carol).open(TOPIC, request)[0] == b'{"turn":1}'
    with pytest.raises(Dropped, match="unverifiable"):
        Gate(master.for_watcher()).open(TOPIC, request)
    # Alice's worker holds Alice's key only: a request it makes up for Carol's worker does not pass there
    forged = RunSigner(Credential.from_secret("r1", b"\0" * 32), epoch=1).wrap(TOPIC, b'{"turn":2}', ["Carol"])
    forged = forged.replace(b'"sig":"', b'"sig":"x', 1)
    with pytest.raises(Dropped, match="mark for 'Carol' does not match"):
        Gate(carol).open(TOPIC, forged)
    tampered = request.replace(b'{"turn":1}', b'{"turn":9}')
    with pytest.raises(Dropped, match="mis-signed"):
        Gate(carol).open(TOPIC, tampered)
