"""A broker of the tests' own on a free port: the `mosquitto` binary where it exists, else amqtt in-process."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import signal
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

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        nodelay: bool = True,
        passwords: Path | None = None,
        persistence: bool = True,
        autosave_s: int = 1,
        extra: list[str] | None = None,
    ):
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if passwords else 'true'}",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {workdir}/",
            # Saved every second: a broker killed with -9 forgets at most the last second (see mqtt.RESEND_WINDOW_S).
            f"autosave_interval {autosave_s}",
            "max_queued_messages 100000",
            f"set_tcp_nodelay {'true' if nodelay else 'false'}",
            # Started as root, mosquitto drops to user `mosquitto`, which cannot save its sessions in our folder.
            f"user {getpass.getuser()}",
        ]
        if passwords:
            lines.append(f"password_file {passwords}")
        lines += extra or []
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

    async def kill(self) -> None:
        """SIGKILL: whatever it acknowledged since its last save is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait, 10)
        self.proc = None

    async def save(self) -> None:
        """SIGUSR1: mosquitto writes its persistence file now."""
        assert self.proc is not None
        size = (self.workdir / "mosquitto.db").stat().st_mtime_ns if (self.workdir / "mosquitto.db").exists() else 0
        self.proc.send_signal(signal.SIGUSR1)
        for _ in range(100):
            db = self.workdir / "mosquitto.db"
            if db.exists() and db.stat().st_mtime_ns != size:
                return
            await asyncio.sleep(0.02)


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


def make_certs(folder: Path) -> dict[str, Path]:
    """A CA of the test's own, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
        crt, pem = folder / f"{stem}.crt", folder / f"{stem}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pem.chmod(0o600)
        return crt, pem

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("sociallm test CA"))
        .issuer_name(name("sociallm test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_crt, _ = write("ca", ca_key, ca)

    def leaf(stem: str, cn: str, server: bool) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName(cn)])
            builder = builder.add_extension(san, critical=False)
        return write(stem, key, builder.sign(ca_key, hashes.SHA256()))

    server_crt, server_key = leaf("server", "localhost", True)
    client_crt, client_key = leaf("client", "sociallm-client", False)
    return {
        "ca": ca_crt,
        "server_crt": server_crt,
        "server_key": server_key,
        "client_crt": client_crt,
        "client_key": client_key,
    }


EXAMPLE_CONF = Path(__file__).resolve().parents[2] / "examples" / "mosquitto"


def example_broker(workdir: Path, users: dict[str, str], extra_acl: str = "", client_certs: bool = False):
    """The shipped examples/mosquitto config on free ports, with these users and a CA made here.

    Returns (Mosquitto, tls_port, certs); `port` of the Mosquitto is the plain loopback listener.
    """
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    certs = make_certs(workdir / "certs")
    passwords = workdir / "passwords"
    for i, (user, password) in enumerate(users.items()):
        flags = ["-b", "-c"] if i == 0 else ["-b"]
        subprocess.run(["mosquitto_passwd", *flags, str(passwords), user, password], check=True)
    (workdir / "acl").write_text((EXAMPLE_CONF / "acl").read_text() + extra_acl)
    (workdir / "data").mkdir(exist_ok=True)
    plain, tls = free_port(), free_port()
    conf = (EXAMPLE_CONF / "mosquitto.conf").read_text()
    swaps = {
        "listener 8883": f"listener {tls} 127.0.0.1",
        "listener 1883 127.0.0.1": f"listener {plain} 127.0.0.1",
        "password_file passwords": f"password_file {passwords}",
        "acl_file acl": f"acl_file {workdir / 'acl'}",
        "cafile certs/ca.crt": f"cafile {certs['ca']}",
        "certfile certs/server.crt": f"certfile {certs['server_crt']}",
        "keyfile certs/server.key": f"keyfile {certs['server_key']}",
        "persistence_location data/": f"persistence_location {workdir / 'data'}/",
    }
    if client_certs:
        swaps["# require_certificate true"] = "require_certificate true"
    for old, new in swaps.items():
        assert old in conf, f"examples/mosquitto/mosquitto.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    broker = Mosquitto(workdir, port=plain)
    broker.conf.write_text(conf + f"user {getpass.getuser()}\n")
    return broker, tls, certs
