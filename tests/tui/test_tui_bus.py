"""The TUI attached to a live run over its MQTT broker."""

import asyncio
import time
from pathlib import Path

import pytest

from sociallm.cli.tui import bus_app
from sociallm.orchestration.remote import Distribution
from sociallm.orchestration.run import Run
from sociallm.runtime.mqtt import parse_bus_url
from sociallm.runtime.mqtt_security import Credential
from sociallm.runtime.scenario import load_scenario
from tests.runtime.broker import make_broker
from tests.tui.helpers import SlowLLM

pytestmark = pytest.mark.integration


async def test_watch_a_live_run_over_the_bus(tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "broker")
    await broker.start()
    try:
        key = Credential.generate("tui-bus-1")
        (tmp_path / "r").mkdir()
        key.save(tmp_path / "r" / "bus.key")  # the run reuses a key already in its folder
        watch_key = tmp_path / "watch.key"
        key.for_watcher().save(watch_key)
        app = bus_app(broker.url, "tui-bus-1", key_file=watch_key)
        assert app.feed.mode == "bus"
        async with app.run_test(size=(160, 48)) as pilot:
            while app.feed.stream is None:  # subscribed before the run starts, so it hears everything
                await pilot.pause(0.05)
            dist = Distribution(bus=parse_bus_url(broker.url))
            spec = load_scenario("bertrand", {"rounds": 2})
            run = Run(spec, tmp_path / "r", llm=SlowLLM(0.02), run_id="tui-bus-1", distribution=dist)
            await run.execute()
            deadline = time.monotonic() + 10
            while app.state.status != "completed":
                assert time.monotonic() < deadline, "the UI did not see the run end"
                await pilot.pause(0.05)
            assert app.state.round == 2 and len(app.state.lines_for("public")) == 4
            assert app.feed.finished
    finally:
        await broker.stop()
    await asyncio.sleep(0)


def test_watch_over_the_bus_needs_the_run_key(tmp_path: Path, monkeypatch) -> None:
    import typer

    monkeypatch.delenv("SOCIALLM_BUS_KEY", raising=False)
    monkeypatch.delenv("SOCIALLM_BUS_KEY_FILE", raising=False)
    with pytest.raises(typer.Exit):
        bus_app("mqtt://127.0.0.1:1", "some-run")
    other = tmp_path / "other.key"
    Credential.generate("another-run").save(other)
    with pytest.raises(typer.Exit):
        bus_app("mqtt://127.0.0.1:1", "some-run", key_file=other)
