"""A broker of the tests' own on a free port: the `mosquitto` binary where it exists, else amqtt in-process."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"broker did not listen on {port} within {timeout_s} s")


class Mosquitto:
    """Mosquitto with persistence (so sessions survive a restart) and TCP_NODELAY, as a subprocess."""

    kind = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None, nodelay: bool = True, passwords: Path | None = None):
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if passwords else 'true'}",
            "persistence true",
            f"persistence_location {workdir}/",
            "max_queued_messages 100000",
            f"set_tcp_nodelay {'true' if nodelay else 'false'}",
            # Started as root, mosquitto drops to user `mosquitto`, which cannot save its sessions in our folder.
            f"user {getpass.getuser()}",
        ]
        if passwords:
            lines.append(f"password_file {passwords}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _spawn(self) -> None:
        with open(self.workdir / "mosquitto.log", "ab") as logfile:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=logfile)  # type: ignore[list-item]
        _wait_port(self.port)

    async def start(self) -> None:
        await asyncio.to_thread(self._spawn)

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto writes its persistence file on the way out
            await asyncio.to_thread(self.proc.wait, 10)
        self.proc = None


class AmqttBroker:
    """The pure-Python broker, for machines without Mosquitto (its sessions do not survive a restart)."""

    kind = "amqtt"

    def __init__(self, workdir: Path, port: int | None = None, **_: object) -> None:
        self.port = port or free_port()
        self.broker = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self.broker = Broker(config)
        await self.broker.start()

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.shutdown()
        self.broker = None


def make_broker(workdir: Path, **kw: object) -> Mosquitto | AmqttBroker:
    return Mosquitto(workdir, **kw) if MOSQUITTO else AmqttBroker(workdir, **kw)  # type: ignore[arg-type]
