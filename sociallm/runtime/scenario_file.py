"""Reading a scenario file without trusting it: size, encoding and YAML limits.

A scenario is a few kilobytes of YAML written by hand. A file that is much bigger, not text, nested
thousands of levels deep or built from aliases that expand to gigabytes is a mistake or an attack;
each gets one line naming the file and the limit, never a traceback or a run that eats the machine.

- size: at most `max_bytes` (default 2 MiB; `SOCIALLM_MAX_SCENARIO_BYTES` or `Limits(max_bytes=...)`).
- encoding: UTF-8 (a BOM is fine); anything else is named with the offending byte's offset.
- nesting: at most `max_depth` levels of mappings and lists (default 64); PyYAML's composer
  recurses once per level, so a file of 100,000 `[` would otherwise end in a RecursionError.
- aliases: at most `max_aliases` uses of `*anchor` (default 1,000), and the document as the
  program will see it, every alias expanded, at most `max_bytes` of text and `max_nodes` values
  (a 112 KB file of 3,000 aliases to one long string expands to ~300 MB of prompt).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:  # libyaml's event parser: fast, and iterative, so depth cannot exhaust the C stack
    from yaml._yaml import CParser as _Parser

    _C_PARSER = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    _C_PARSER = False

ENV_MAX_BYTES = "SOCIALLM_MAX_SCENARIO_BYTES"
DEFAULT_MAX_BYTES = 2 * 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = 64
    max_aliases: int = 1000
    max_nodes: int = 200_000

    @classmethod
    def from_env(cls) -> Limits:
        raw = os.environ.get(ENV_MAX_BYTES, "").strip()
        if not raw:
            return cls()
        try:
            value = int(float(raw))
        except ValueError:
            raise LimitError(f"{ENV_MAX_BYTES}={raw!r}: expected a number of bytes, e.g. 10000000") from None
        if value < 1:
            raise LimitError(f"{ENV_MAX_BYTES}={raw!r}: must be at least 1")
        return cls(max_bytes=value)


class LimitError(ValueError):
    """A limit was hit; the message is one line naming it and how to raise it."""


class FileProblem(ValueError):
    """The file cannot be read as a scenario; the message is one line (the caller adds the file name)."""


def read_text(path: Path, limits: Limits) -> str:
    """The file's text, refusing what is too big, not a regular file, binary or not UTF-8."""
    try:
        if path.is_dir():
            raise FileProblem("is a folder, not a scenario file")
        with open(path, "rb") as f:
            data = f.read(limits.max_bytes + 1)  # never more than the limit, even from a pipe or /dev/zero
    except FileProblem:
        raise
    except FileNotFoundError:
        raise FileProblem("file not found") from None
    except OSError as exc:
        raise FileProblem(f"cannot read it ({exc.strerror or type(exc).__name__})") from None
    if len(data) > limits.max_bytes:
        raise FileProblem(
            f"file is over the {_mb(limits.max_bytes)} limit for scenario files "
            f"(raise it with {ENV_MAX_BYTES}=BYTES if it really is a scenario)"
        )
    return decode(data)


def decode(data: bytes) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FileProblem(f"a binary file, not YAML text (a NUL byte at offset {nul})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise FileProblem(f"not UTF-8 text (byte 0x{bad:02x} at offset {exc.start}); save the file as UTF-8") from None


class _BoundedComposer(Composer):
    """PyYAML's composer with a depth limit and an alias budget (composition is where both show)."""

    limits: Limits

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                mark = self.peek_event().start_mark
                raise LimitError(
                    f"line {mark.line + 1}: more than {self.limits.max_aliases} aliases (*name); "
                    "write the values out, or use fewer anchors"
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth:
                mark = self.peek_event().start_mark
                raise LimitError(
                    f"line {mark.line + 1}, column {mark.column + 1}: nested more than {self.limits.max_depth} "
                    "levels deep; a scenario needs a handful"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


if _C_PARSER:

    class _Loader(_BoundedComposer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc]
        def __init__(self, text: str, limits: Limits) -> None:
            _Parser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self.limits, self._depth, self._aliases = limits, 0, 0

else:  # pragma: no cover

    class _Loader(Reader, Scanner, _Parser, _BoundedComposer, SafeConstructor, Resolver):  # type: ignore[no-redef,misc]
        def __init__(self, text: str, limits: Limits) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            _Parser.__init__(self)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self.limits, self._depth, self._aliases = limits, 0, 0


def _expanded_size(root: Node, limits: Limits) -> None:
    """Raise LimitError if the document, aliases expanded, exceeds the byte, value or depth budget.

    Aliased nodes are shared in the node graph, so each node's expanded size is computed once
    (iteratively: the graph is at most `max_depth` deep but may be wide)."""
    sizes: dict[int, tuple[int, int, int]] = {}  # id(node) -> (bytes, values, depth) expanded
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, ScalarNode):
            sizes[key] = (len(node.value) + 1, 1, 0)
            continue
        kids: list[Node] = []
        if isinstance(node, SequenceNode):
            kids = list(node.value)
        elif isinstance(node, MappingNode):
            kids = [n for pair in node.value for n in pair]
        if not children_done:
            if key in on_path:
                raise LimitError(f"line {node.start_mark.line + 1}: an alias refers to a value that contains it")
            on_path.add(key)
            stack.append((node, True))
            for kid in kids:
                if id(kid) in on_path and id(kid) not in sizes:
                    raise LimitError(f"line {kid.start_mark.line + 1}: an alias refers to a value that contains it")
                if id(kid) not in sizes:
                    stack.append((kid, False))
            continue
        on_path.discard(key)
        total_bytes = sum(sizes[id(k)][0] for k in kids) + 2
        total_nodes = sum(sizes[id(k)][1] for k in kids) + 1
        depth = max((sizes[id(k)][2] for k in kids), default=0) + 1
        if depth > limits.max_depth:
            raise LimitError(
                f"line {node.start_mark.line + 1}: with its aliases expanded this value is nested more than "
                f"{limits.max_depth} levels deep"
            )
        if total_bytes > limits.max_bytes or total_nodes > limits.max_nodes:
            raise LimitError(
                f"line {node.start_mark.line + 1}: with its aliases expanded this value is over the "
                f"{_mb(limits.max_bytes)} / {limits.max_nodes:,}-value limit "
                f"(raise it with {ENV_MAX_BYTES}=BYTES if it really is a scenario)"
            )
        sizes[key] = (total_bytes, total_nodes, depth)


def parse_yaml(text: str, limits: Limits) -> Any:
    """The YAML document in `text` as Python data, within `limits`; one-line errors only."""
    loader = _Loader(text, limits)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, limits)
        return loader.construct_document(node)
    except LimitError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise FileProblem(f"{where}YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise FileProblem(f"YAML error: {_first_line(str(exc))}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # The safe constructor's own failures: an impossible date (2001-13-40), an integer of 10,000 digits.
        raise FileProblem(f"a value cannot be read: {_first_line(str(exc))}") from None
    finally:
        loader.dispose()


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    return line if len(line) <= limit else line[: limit - 1] + "…"
