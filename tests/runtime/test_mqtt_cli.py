"""`sociallm run --bus mqtts://... --workers 2` on the embedded model, as a user runs it, under attack.

The shipped broker config (accounts, ACLs, TLS with client certificates), a password in the URL (to
prove it is redacted), and a rogue account publishing forgeries and replays on every topic. The run
must complete with both workers, log nothing forged, leave no password in its folder or on a worker's
command line, and count the workers' model calls in its usage.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from sociallm.runtime.eventlog import read_events
from sociallm.runtime.mqtt_security import Credential
from tests.runtime.broker import MOSQUITTO, example_broker
from tests.runtime.rogue import MARK, Rogue

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(MOSQUITTO is None or not shutil.which("mosquitto_passwd"), reason="needs mosquitto"),
]

PASSWORD = "Sup3r-s3cret-pw"
ROGUE_ACL = "\n# a stolen account: may publish anywhere, holds no run key\nuser rogue\ntopic readwrite sociallm/#\n"


def worker_cmdlines(parent: int) -> dict[int, bytes]:
    """The command lines of the workers a run process spawned, as anyone on the machine can read them."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"sociallm.cli\x00worker" in cmd:
            out[int(proc.name)] = cmd
    return out


async def test_cli_run_with_two_workers_over_tls_with_accounts_under_attack(tmp_path):
    broker, tls_port, certs = example_broker(
        tmp_path / "broker", {"runner": PASSWORD, "rogue": "rogue-pw"}, ROGUE_ACL, client_certs=True
    )
    await broker.start()
    out = tmp_path / "cli-tls-1"
    cmd = [sys.executable, "-m", "sociallm.cli", "run", "bertrand", "--rounds", "2", "--set", "backbone.max_tokens=12"]
    cmd += ["--bus", f"mqtts://runner:{PASSWORD}@127.0.0.1:{tls_port}", "--workers", "2", "--out", str(out), "-q"]
    cmd += ["--bus-ca", str(certs["ca"]), "--bus-cert", str(certs["client_crt"])]
    cmd += ["--bus-cert-key", str(certs["client_key"]), "--turn-timeout", "120"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALLM_BUS")}
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    seen_cmdlines: dict[int, bytes] = {}
    rogue = None
    attacker = None
    try:
        while proc.returncode is None:  # watch the workers' command lines while they live
            seen_cmdlines |= worker_cmdlines(proc.pid)
            if rogue is None and (out / "bus.key").exists():
                run_id = json.loads((out / "bus.key").read_text())["run"]
                rogue = Rogue(f"mqtts://rogue:rogue-pw@127.0.0.1:{tls_port}", run_id, {"local0": ["Alice"]})
                rogue.link.config.ca_file = str(certs["ca"])
                rogue.link.config.cert_file = str(certs["client_crt"])
                rogue.link.config.key_file = str(certs["client_key"])
                await rogue.link.start()
                attacker = asyncio.create_task(rogue.keep_attacking(0.5))
            try:
                await asyncio.wait_for(proc.wait(), 0.2)
            except TimeoutError:
                pass
        stdout = (await proc.stdout.read()).decode()  # type: ignore[union-attr]
    finally:
        if attacker is not None:
            attacker.cancel()
            await rogue.link.aclose(drain_s=0)  # type: ignore[union-attr]
        if proc.returncode is None:
            proc.kill()
        await broker.stop()
    assert proc.returncode == 0, stdout[-3000:]

    events = read_events(out / "events.jsonl").events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    talk = [e for e in events if e.kind == "message"]
    assert {e.source for e in talk} == {"Alice", "Bob"} and not [e for e in talk if e.payload.get("no_show")]
    assert not [e for e in events if e.payload.get("event") == "no_show"]
    calls = [e for e in events if e.kind == "llm_call"]
    assert {e.source for e in calls} == {"Alice", "Bob"} and all(e.payload.get("text") is not None for e in calls)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["llm"]["calls"] == len(calls)  # the workers' calls count in the run's usage
    assert set(metrics["llm"]["by_agent"]) == {"Alice", "Bob"}

    # the rogue: active, and nothing it sent reached the log or a prompt
    assert rogue is not None and rogue.sent > 100
    assert MARK not in (out / "events.jsonl").read_text()
    assert not any(MARK in str(e.payload.get("prompt", "")) for e in calls)

    # no password anywhere in the run folder (manifest command redacted), none on a worker's command line
    for path in out.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    manifest = json.loads((out / "manifest.json").read_text())
    assert "runner:***@" in manifest["command"]
    assert len(seen_cmdlines) == 2, "did not see both worker processes"
    key = Credential.load(out / "bus.key")
    secrets = [
        PASSWORD.encode(),
        key.secret.encode(),
        *(key.for_agents([a]).agents[a].encode() for a in ("Alice", "Bob")),
    ]  # type: ignore[union-attr]
    for cmdline in seen_cmdlines.values():
        assert not any(s in cmdline for s in secrets)
        assert b"--bus-ca" in cmdline and b"--bus-cert-key" in cmdline  # TLS files do reach the workers
    assert stat.S_IMODE((out / "bus.key").stat().st_mode) == 0o600
