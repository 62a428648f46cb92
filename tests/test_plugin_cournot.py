"""A game from another package (examples/cournot) runs through `sociallm run`, the TUI, `sweep` and `report`
with zero edits to sociallm/: it is found through its `sociallm.environments` entry point alone.

The plug-in is "installed" the way pip would leave it for importlib.metadata: a .dist-info folder with
its entry_points.txt in a temporary folder on the path (no pip, no change to the shared venv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cournot"
SCENARIO = EXAMPLE / "sociallm_cournot" / "cournot.yaml"
FAKE_CLI = [sys.executable, str(ROOT / "tests" / "runtime" / "fake_cli.py")]


def install(site: Path) -> Path:
    """What `pip install` writes for importlib.metadata: METADATA and entry_points.txt from pyproject.toml."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines += [f"[{group}]", *[f"{k} = {v}" for k, v in entries.items()], ""]
    (dist / "entry_points.txt").write_text("\n".join(lines))
    return site


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from sociallm.runtime import registry

    path = install(tmp_path / "site")
    for p in (str(ROOT), str(EXAMPLE), str(path)):
        monkeypatch.syspath_prepend(p)
    registry.refresh()
    yield path
    registry.refresh()


def sociallm(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE), str(ROOT)])}
    return subprocess.run([*FAKE_CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_no_file_of_sociallm_names_the_plugin_game() -> None:
    named = [p for p in (ROOT / "sociallm").rglob("*.py") if "cournot" in p.read_text(encoding="utf-8").lower()]
    assert named == []


def test_without_the_entry_point_the_game_is_unknown() -> None:
    from sociallm.runtime.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match="unknown environment 'cournot'"):
        load_scenario(str(SCENARIO))


async def test_the_plugin_game_runs_shows_sweeps_and_reports(site: Path, tmp_path: Path) -> None:
    run_dir, sweep_dir = tmp_path / "run", tmp_path / "sweep"
    done = sociallm(site, "run", str(SCENARIO), "--rounds", "3", "--out", str(run_dir), "-q")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["scenario"]["environment"]["kind"] == "cournot"
    outcomes = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    outcomes = [e for e in outcomes if e["kind"] == "outcome"]
    assert len(outcomes) == 3 and set(outcomes[0]["payload"]["quantities"]) == {"Alice", "Bob"}

    # The TUI draws the panel the plug-in declares: its chart, its reference lines, its sparklines.
    from sociallm.cli.tui import watch_app
    from sociallm.tui.widgets import MetricsPanel

    app = watch_app(run_dir, speed=None)
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(100):
            if app.state.round == 3 and not app.feed.pending:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        panel = str(app.query_one(MetricsPanel).render())
        assert "quantities" in panel and "C Cournot 3.000" in panel and "M collusive 2.250" in panel
        assert "collusion index" in panel and "market price" in panel
        assert "cournot_market" not in app.state.agents  # the game's own source is not an agent
        await pilot.press("q")

    report = sociallm(site, "report", str(run_dir))
    assert report.returncode == 0, report.stderr
    md = (run_dir / "report.md").read_text()
    assert "![cournot.png](cournot.png)" in md and (run_dir / "cournot.png").stat().st_size > 5_000
    assert "| mean_index |" in md

    sweep = sociallm(site, "sweep", str(SCENARIO), "--seeds", "2", "--rounds", "2", "--set", "environment.params.b=1,2",
                     "--out", str(sweep_dir))  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    assert "mean_index" in sweep.stdout  # the summary prints the game's declared headline metric
    report = sociallm(site, "report", str(sweep_dir))
    assert report.returncode == 0, report.stderr
    md = (sweep_dir / "report.md").read_text()
    # b changes the Cournot quantity: the raw mean quantity is flagged, its normalised form is shown.
    assert "| mean_index |" in md and "| mean_quantity ⚠ |" in md and "| mean_quantity (normalised) |" in md
    assert (sweep_dir / "curves.png").exists() and "each condition's own" in md
