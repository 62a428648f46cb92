"""Property-based fuzzing of the scenario loader: arbitrary bytes, arbitrary YAML trees, mutated real scenarios
and alias bombs give either a valid spec or a few one-line errors naming the file, never a traceback, within
bounded time and memory. Derandomised (the same examples every run) and sized to take well under a minute."""

from __future__ import annotations

import copy
import os
import resource
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sociallm.runtime.scenario import (
    MAX_ERROR_LINES,
    MAX_LINE_CHARS,
    ScenarioError,
    ScenarioSpec,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from sociallm.runtime.scenario_file import Limits

# SOCIALLM_FUZZ_EXAMPLES=20000 for a long, randomised hunt; the suite runs a fixed 300 per property.
DEEP = int(os.environ.get("SOCIALLM_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=DEEP or 300,
    deadline=5000,  # ms per example on a loaded 2-core machine; a slow path shows as a failure
    derandomize=not DEEP,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
BASE = yaml.safe_load(builtin_scenarios()["bertrand"].read_text())
SMALL = Limits(max_bytes=200_000)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_outcome(load: Any, source: str) -> None:
    """`load()` returns a spec or raises ScenarioError with a bounded list of one-line problems."""
    started = time.perf_counter()
    try:
        spec = load()
    except ScenarioError as exc:
        assert exc.source == source
        assert 1 <= len(exc.lines) <= MAX_ERROR_LINES + 1
        for line in exc.lines:
            assert line and "\n" not in line and "\r" not in line and len(line) <= MAX_LINE_CHARS, line
            assert "Traceback" not in line
        assert str(exc).splitlines()[0].startswith(f"{source}: ")
    else:
        assert isinstance(spec, ScenarioSpec)
    assert time.perf_counter() - started < 5


@pytest.fixture(scope="module")
def rss_budget():
    before = _rss_mb()
    yield
    assert _rss_mb() - before < 300, f"peak RSS grew {_rss_mb() - before:.0f} MB while fuzzing"


@FUZZ
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes(tmp_path_factory, rss_budget, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_bytes(data)
    check_outcome(lambda: load_scenario(str(path), limits=SMALL), str(path))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["all", "bertrand", "martian", "price", "talk", "act", "sequential", "Alice", "Bob", ""]),
)
trees = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12) | scalars, kids, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(tree=trees)
def test_arbitrary_trees(rss_budget, tree: Any) -> None:
    check_outcome(lambda: parse_scenario(tree, "tree.yaml"), "tree.yaml")


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ALL_PATHS = [p for p in _paths(BASE) if p]


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(ALL_PATHS), trees), min_size=1, max_size=4))
def test_mutated_real_scenarios(rss_budget, edits: list[tuple[tuple, Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in edits:
        node: Any = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed the place
    check_outcome(lambda: parse_scenario(data, "mutated.yaml"), "mutated.yaml")


TOKENS = ["[", "]", "{", "}", "&a ", "*a", "- ", ": ", "\n", "  ", "!!str ", "!!binary ", "<<: ", "'", '"', "#", "|"]


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(TOKENS)), max_size=8))
def test_mutated_real_files(tmp_path_factory, rss_budget, cuts: list[tuple[int, str]]) -> None:
    text = builtin_scenarios()["bertrand"].read_text()
    for at, token in cuts:
        at %= len(text) + 1
        text = text[:at] + token + text[at:]
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    path.write_text(text)
    check_outcome(lambda: load_scenario(str(path), limits=SMALL), str(path))


@FUZZ
@given(depth=st.integers(1, 12), fan=st.integers(1, 12), payload=st.integers(1, 5000))
def test_alias_bombs(tmp_path_factory, rss_budget, depth: int, fan: int, payload: int) -> None:
    lines = [yaml.safe_dump(BASE, sort_keys=False), f"l0: &l0 {'x' * payload}"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, depth)]
    path = tmp_path_factory.mktemp("fuzz") / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    check_outcome(lambda: load_scenario(str(path)), str(path))


def test_the_cli_prints_the_same_one_liners(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sociallm.cli import app

    path = tmp_path / "s.yaml"
    for data in (b"\x00\x01", b"[" * 5000, b"a: &a [*a]", "name: Zoë\n".encode("utf-16"), b"- - - -"):
        path.write_bytes(data)
        result = CliRunner().invoke(app, ["check", str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert all(line.startswith(f"{path}: ") for line in result.stderr.strip().splitlines())
