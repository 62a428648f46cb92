"""What makes the MQTT bus trustworthy: per-run keys, signed envelopes, sealed payloads, replay windows.

Keys. A run with `--bus` generates a 32-byte secret, kept 0600 in `<run>/bus.key`. Everything else
derives from it, so one file is enough to resume a run or to mint narrower credentials:
- the run's signing key (Ed25519): only the run process holds it; anyone with the run's public key
  can check that an event, a turn request or the scenario really comes from the run;
- one key per agent (HMAC-SHA256 + AES-GCM): a worker holds the keys of the agents it hosts, signs
  what it says for them and opens what is addressed to them, and nothing else;
- a watcher key: opens every sealed payload (for `sociallm watch --bus`), signs nothing the run accepts.

Envelope. Every message on the bus is `body + "\\n" + trailer`, the trailer a JSON object with the
sender (`s`), its instance (`i`, one per process), the run's epoch (`e`: when the run process
started, so messages of an earlier process of a resumed run are told apart), the seq the epoch
started from (`b`), a counter (`n`), the agents a worker speaks for (`a`) and the signature (`sig`).
The signature covers the run id, the topic, every trailer field and the body, so a message cannot be
altered, moved to another topic or run, or replayed (receivers keep a window of counters seen).

Sealing. Payloads that not every agent may read (private channels, messages to named agents, model
calls with their prompts, affect/memory/ToM read-outs, turn requests, agent states, proposals) are
encrypted with a fresh AES-256-GCM key, which is wrapped once for each agent allowed to read it and
once for watchers. Who said what to whom, when (kind, source, channel, recipients, seq) stays
readable: the topic tree and the ordering need it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import struct
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, Field, PrivateAttr, ValidationError

KEY_FILE = "bus.key"
ENV_KEY = "SOCIALLM_BUS_KEY"  # a credential's JSON text (spawned workers get theirs this way, never on argv)
ENV_KEY_FILE = "SOCIALLM_BUS_KEY_FILE"
RUN = "run"  # the sender name of the run process
WATCH = "_watch"  # the reader name under which watchers open sealed payloads
_LABEL = b"sociallm-bus/1"
# Counters a receiver remembers per sender instance. A message whose counter is this far behind the
# highest seen is refused as too old; QoS 1 re-sends after a reconnect stay far inside it.
REPLAY_WINDOW = 1 << 16


class SecurityError(RuntimeError):
    """A key or credential problem the user must fix (missing, unreadable, for another run)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _derive(secret: bytes, label: str) -> bytes:
    return hmac.new(secret, _LABEL + b"|" + label.encode(), hashlib.sha256).digest()


def new_instance() -> str:
    """A process's sender instance: its start time (so a newer process wins) and a random tail."""
    return f"{time.time_ns():x}.{secrets.token_hex(4)}"


def instance_time(instance: str) -> int:
    try:
        return int(instance.split(".", 1)[0], 16)
    except ValueError:
        return -1


class Credential(BaseModel):
    """What one party holds: the run's public key, and the keys its role needs (all of them for the run)."""

    run: str
    public: str
    agents: dict[str, str] = Field(default_factory=dict)
    watch: str | None = None
    secret: str | None = None  # the run's master secret: only in the run folder's bus.key
    _keys: dict[str, bytes | None] = PrivateAttr(default_factory=dict)  # derived/decoded keys, by label

    def __repr__(self) -> str:  # never print key material by accident
        role = "run" if self.secret else "watcher" if self.watch else f"agents {sorted(self.agents)}"
        return f"Credential(run={self.run!r}, {role})"

    __str__ = __repr__

    # -- making ----------------------------------------------------------------------------------
    @classmethod
    def generate(cls, run: str) -> Credential:
        return cls.from_secret(run, secrets.token_bytes(32))

    @classmethod
    def from_secret(cls, run: str, secret: bytes) -> Credential:
        public = Ed25519PrivateKey.from_private_bytes(_derive(secret, "sign")).public_key().public_bytes_raw()
        return cls(run=run, public=_b64(public), secret=_b64(secret))

    def for_agents(self, names: Iterable[str]) -> Credential:
        """A worker's credential: the public key and the keys of exactly these agents."""
        return Credential(run=self.run, public=self.public, agents={n: _b64(self._agent_key(n)) for n in names})

    def for_watcher(self) -> Credential:
        return Credential(run=self.run, public=self.public, watch=_b64(self._need_secret("watch")))

    # -- using -----------------------------------------------------------------------------------
    @property
    def is_run(self) -> bool:
        return self.secret is not None

    def _need_secret(self, label: str) -> bytes:
        if self.secret is None:
            raise SecurityError(f"this credential for run {self.run!r} is not the run's own key (bus.key)")
        key = self._keys.get(label)
        if key is None:  # derived once: every message of a run needs one or more of these
            key = self._keys[label] = _derive(_unb64(self.secret), label)
        return key

    def _agent_key(self, name: str) -> bytes:
        return self._need_secret(f"agent|{name}")

    def agent_key(self, name: str) -> bytes | None:
        if self.secret is not None:
            return self._agent_key(name)
        label = f"agent|{name}"
        if label not in self._keys:
            key = self.agents.get(name)
            self._keys[label] = _unb64(key) if key else None
        return self._keys[label]

    def reader_key(self, reader: str) -> bytes | None:
        """The key that opens what is sealed for `reader` (an agent, or WATCH), if this credential has it."""
        if reader == WATCH:
            if self.secret is not None:
                return self._need_secret("watch")
            return _unb64(self.watch) if self.watch else None
        return self.agent_key(reader)

    def can_read_all(self) -> bool:
        return self.secret is not None or self.watch is not None

    def signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._need_secret("sign"))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return _public_key(self.public)

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write 0600 from the start (never world-readable, not even for a moment)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.model_dump_json(exclude_none=True))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    @classmethod
    def parse(cls, text: str, where: str) -> Credential:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            field_ = ".".join(str(p) for p in first.get("loc", ())) or "file"
            raise SecurityError(
                f"{where}: not a sociallm bus key ({field_}: {first.get('msg')}); use the run folder's bus.key "
                "or a credential made by `sociallm bus-key`"
            ) from None

    @classmethod
    def load(cls, path: Path) -> Credential:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SecurityError(f"--key-file {path}: cannot read it ({exc.strerror})") from None
        return cls.parse(text, f"--key-file {path}")

    def check_run(self, run: str, where: str) -> Credential:
        if self.run != run:
            raise SecurityError(f"{where}: the key is for run {self.run!r}, not {run!r}")
        return self


def resolve_credential(key_file: Path | None, run: str, where: str = "--key-file") -> Credential:
    """The credential from --key-file, else $SOCIALLM_BUS_KEY (inline) or $SOCIALLM_BUS_KEY_FILE; else an error."""
    if key_file is not None:
        return Credential.load(key_file).check_run(run, f"--key-file {key_file}")
    if text := os.environ.get(ENV_KEY):
        return Credential.parse(text, f"${ENV_KEY}").check_run(run, f"${ENV_KEY}")
    if path := os.environ.get(ENV_KEY_FILE):
        return Credential.load(Path(path)).check_run(run, f"${ENV_KEY_FILE}")
    raise SecurityError(
        f"{where}: run {run!r} signs its bus messages; give its key: the run folder's {KEY_FILE} "
        f"(or a narrower one from `sociallm bus-key RUN_DIR --agents ...|--watch`), or set ${ENV_KEY_FILE}"
    )


@lru_cache(maxsize=64)
def _public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_unb64(text))


@lru_cache(maxsize=4096)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)


# -- sealing ------------------------------------------------------------------------------------------
Keyring = Callable[[str], bytes | None]


def _seal_raw(plain: bytes, readers: Iterable[str], keyring: Keyring, aad: bytes) -> tuple[bytes, dict[str, bytes]]:
    """Encrypt once with a fresh key; wrap that key for each reader the keyring has a key for."""
    dek = secrets.token_bytes(32)
    nonce = secrets.token_bytes(12)
    wrapped: dict[str, bytes] = {}
    for reader in sorted(set(readers)):
        key = keyring(reader)
        if key is None:
            continue
        wn = secrets.token_bytes(12)
        wrapped[reader] = wn + _aead(key).encrypt(wn, dek, aad + b"|" + reader.encode())
    return nonce + AESGCM(dek).encrypt(nonce, plain, aad), wrapped


def _open_raw(blob: bytes, wrapped: dict[str, bytes], keyring: Keyring, aad: bytes) -> bytes | None:
    try:
        for reader, raw in wrapped.items():
            key = keyring(reader)
            if key is None:
                continue
            dek = _aead(key).decrypt(raw[:12], raw[12:], aad + b"|" + reader.encode())
            return AESGCM(dek).decrypt(blob[:12], blob[12:], aad)
    except (InvalidTag, ValueError):
        return None
    return None


def seal(plain: bytes, readers: Iterable[str], keyring: Keyring, aad: bytes) -> dict[str, Any]:
    """Sealed as JSON (inside an event's payload, where listeners expect JSON)."""
    blob, wrapped = _seal_raw(plain, readers, keyring, aad)
    return {"v": 1, "ct": _b64(blob), "k": {r: _b64(w) for r, w in wrapped.items()}}


def unseal(sealed: Any, keyring: Keyring, aad: bytes) -> bytes | None:
    """The plaintext, or None when none of our keys opens it (or it was tampered with)."""
    if not isinstance(sealed, dict) or not isinstance(sealed.get("k"), dict):
        return None
    try:
        blob = _unb64(sealed["ct"])
        wrapped = {r: _unb64(w) for r, w in sealed["k"].items() if keyring(r) is not None}
    except (ValueError, KeyError, TypeError):
        return None
    return _open_raw(blob, wrapped, keyring, aad)


SEALED = b"\x00sealed1"  # a sealed control message: binary (no base64 and JSON: an agent's state can be big)


def seal_bytes(plain: bytes, readers: Iterable[str], keyring: Keyring, aad: bytes) -> bytes:
    """SEALED, the number of readers, each as (name length, name, wrapped key), then the ciphertext."""
    blob, wrapped = _seal_raw(plain, readers, keyring, aad)
    parts = [SEALED, struct.pack(">H", len(wrapped))]
    for reader, raw in wrapped.items():
        name = reader.encode()
        parts += [struct.pack(">H", len(name)), name, raw]
    parts.append(blob)
    return b"".join(parts)


def unseal_bytes(body: bytes, keyring: Keyring, aad: bytes) -> bytes | None:
    try:
        (count,) = struct.unpack_from(">H", body, len(SEALED))
        pos = len(SEALED) + 2
        wrapped = {}
        for _ in range(count):
            (size,) = struct.unpack_from(">H", body, pos)
            name = body[pos + 2 : pos + 2 + size].decode()
            wrapped[name] = body[pos + 2 + size : pos + 2 + size + _WRAPPED]
            pos += 2 + size + _WRAPPED
    except (struct.error, UnicodeDecodeError):
        return None
    return _open_raw(body[pos:], wrapped, keyring, aad)


_WRAPPED = 12 + 32 + 16  # nonce, the 32-byte key, the GCM tag


# -- envelopes ----------------------------------------------------------------------------------------
class Trailer(BaseModel):
    s: str  # sender: RUN, or a worker id
    i: str  # the sender's instance
    e: int = 0  # the run epoch this message belongs to
    b: int = 0  # the seq that epoch started after (run messages)
    n: int  # counter, per sender instance
    a: list[str] = Field(default_factory=list)  # the agents a worker speaks for
    sig: str | dict[str, str] = ""
    # The run's cheap second authenticator: an HMAC per worker, under the key of one agent it hosts (a worker
    # holds no other worker's agent keys, so it cannot forge these for them). Workers check this instead of
    # the Ed25519 signature (measured: ~100x cheaper); watchers and anyone else check the signature.
    m: dict[str, str] = Field(default_factory=dict)


def _signed_bytes(run: str, topic: str, t: Trailer, body: bytes) -> bytes:
    head = json.dumps([run, topic, t.s, t.i, t.e, t.b, t.n, t.a], separators=(",", ":")).encode()
    return _LABEL + b"\0" + head + b"\0" + body


def _wrap(body: bytes, trailer: Trailer) -> bytes:
    return body + b"\n" + trailer.model_dump_json().encode()


@dataclass
class RunSigner:
    """Signs as the run process: an Ed25519 signature, and HMACs for the workers (see `Trailer.m`)."""

    credential: Credential
    epoch: int
    base: int = 0
    instance: str = field(default_factory=new_instance)
    counter: int = 0

    def __post_init__(self) -> None:
        self._key = self.credential.signing_key()

    def wrap(self, topic: str, body: bytes, macs: Iterable[str] = (), *, sign: bool = True) -> bytes:
        """`macs`: agents under whose keys to add an HMAC; `sign=False` for a message only they need (a request)."""
        self.counter += 1
        t = Trailer(s=RUN, i=self.instance, e=self.epoch, b=self.base, n=self.counter)
        data = _signed_bytes(self.credential.run, topic, t, body)
        if sign:
            t.sig = _b64(self._key.sign(data))
        for agent in macs:
            t.m[agent] = _b64(hmac.new(self.credential._agent_key(agent), data, hashlib.sha256).digest())
        return _wrap(body, t)


@dataclass
class AgentSigner:
    """Signs as a worker: one HMAC per agent it speaks for, with that agent's key."""

    credential: Credential
    sender: str
    epoch: int = 0
    instance: str = field(default_factory=new_instance)
    counter: int = 0

    def wrap(self, topic: str, body: bytes, agents: Iterable[str], *, instance: str | None = None, n: int = 0) -> bytes:
        if not n:
            self.counter += 1
            n = self.counter
        t = Trailer(s=self.sender, i=instance or self.instance, e=self.epoch, n=n, a=sorted(set(agents)))
        data = _signed_bytes(self.credential.run, topic, t, body)
        macs = {}
        for agent in t.a:
            key = self.credential.agent_key(agent)
            if key is None:
                raise SecurityError(f"this worker holds no key for {agent!r}; it can only speak for its own agents")
            macs[agent] = _b64(hmac.new(key, data, hashlib.sha256).digest())
        t.sig = macs
        return _wrap(body, t)


class DropLog:
    """Every refused message's reason, kept (the last `keep`) and logged, without letting a flood flood the log.

    Each kind of reason is logged the first few times, then once per thousand with a running count.
    """

    def __init__(self, logger: logging.Logger, keep: int = 1000) -> None:
        self.logger = logger
        self.recent: deque[str] = deque(maxlen=keep)
        self.count = 0
        self.by_reason: Counter[str] = Counter()

    def __call__(self, topic: str, why: str) -> None:
        self.count += 1
        self.recent.append(f"{topic}: {why}")
        kind = why.split(" (", 1)[0]
        self.by_reason[kind] += 1
        n = self.by_reason[kind]
        if n <= 5 or n % 1000 == 0:
            more = f" ({n} of this kind so far)" if n > 5 else ""
            self.logger.warning("dropped a message on %s: %s%s", topic, why, more)


class Dropped(Exception):
    """A message refused at the door; `reason` is the one line that gets logged."""

    def __init__(self, reason: str, *, replay: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.replay = replay


class _Window:
    __slots__ = ("hi", "seen")

    def __init__(self) -> None:
        self.hi = 0
        self.seen: set[int] = set()

    def admit(self, n: int) -> str:
        if n <= self.hi - REPLAY_WINDOW:
            return f"replayed (counter {n} is older than the window)"
        if n in self.seen:
            return f"replayed (counter {n} already seen)"
        self.seen.add(n)
        if n > self.hi:
            self.hi = n
        if len(self.seen) > 2 * REPLAY_WINDOW:
            self.seen = {x for x in self.seen if x > self.hi - REPLAY_WINDOW}
        return ""


class Gate:
    """Checks every incoming message of one run: signed by whom it claims, for this topic, not seen before."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential
        self.run = credential.run
        self._windows: dict[tuple[str, str], _Window] = {}

    def open(self, topic: str, data: bytes, *, replay_check: bool = True) -> tuple[bytes, Trailer]:
        body, sep, tail = data.rpartition(b"\n")
        if not sep or not tail.startswith(b"{"):
            raise Dropped("unsigned (no signature trailer)")
        try:
            t = Trailer.model_validate_json(tail)
        except ValidationError:
            raise Dropped("unsigned (the signature trailer is malformed)") from None
        signed = _signed_bytes(self.run, topic, t, body)
        if t.s == RUN:
            if not isinstance(t.sig, str):
                raise Dropped("mis-signed (the run signs with its key, not with agent keys)")
            mine = next(((a, k) for a in t.m if (k := self.credential.agent_key(a)) is not None), None)
            if mine is not None and not self.credential.is_run:
                agent, key = mine
                try:
                    mac = _unb64(t.m[agent])
                except ValueError:
                    mac = b""
                if not hmac.compare_digest(mac, hmac.new(key, signed, hashlib.sha256).digest()):
                    raise Dropped(f"mis-signed (the run's mark for {agent!r} does not match, or altered)")
            elif not t.sig:
                raise Dropped("unverifiable (not signed for this listener)")
            else:
                try:
                    self.credential.public_key.verify(_unb64(t.sig), signed)
                except (InvalidSignature, ValueError):
                    raise Dropped("mis-signed (not signed by this run's key, or altered)") from None
        else:
            if not isinstance(t.sig, dict) or not t.a or set(t.sig) != set(t.a):
                raise Dropped(f"mis-signed (worker {t.s!r} must sign with the key of each agent it speaks for)")
            for agent in t.a:
                key = self.credential.agent_key(agent)
                if key is None:
                    raise Dropped(f"unverifiable (no key for {agent!r} here)")
                try:
                    mac = _unb64(t.sig[agent])
                except ValueError:
                    raise Dropped(f"mis-signed (bad signature for {agent!r})") from None
                if not hmac.compare_digest(mac, hmac.new(key, signed, hashlib.sha256).digest()):
                    raise Dropped(f"mis-signed (not signed with {agent!r}'s key, or altered)")
        if replay_check:
            why = self._windows.setdefault((t.s, t.i), _Window()).admit(t.n)
            if why:
                raise Dropped(why, replay=True)
        return body, t


# -- what payloads are sealed for whom ----------------------------------------------------------------
@dataclass
class ReadPolicy:
    """Who may read an event: the agents that would see it in one process, plus watchers.

    `None` means everyone may (it goes in the clear). Mirrors `Event.visible_to` and the agent's own
    channel filter, so a worker opens exactly what its agents would have observed in-process.
    """

    agents: set[str] = field(default_factory=set)
    private: dict[str, set[str]] = field(default_factory=dict)  # private channel -> members

    def readers(self, kind: str, source: str, channel: str, to: list[str]) -> set[str] | None:
        if not (to or kind == "llm_call" or channel in self.private):
            return None
        who = {source, *to}
        if not to and channel in self.private:
            who |= self.private[channel]
        return (who & self.agents) | {WATCH}
