"""Registries: entry points of installed packages add sections, backbones and games next to the built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from sociallm.runtime import registry
from sociallm.runtime.scenario import ScenarioError, load_scenario, section_module


def dist(site: Path, name: str, entries: dict[str, dict[str, str]]) -> None:
    """What pip leaves for importlib.metadata: a .dist-info with METADATA and entry_points.txt."""
    d = site / f"{name}-0.1.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, items in entries.items():
        lines += [f"[{group}]", *[f"{k} = {v}" for k, v in items.items()], ""]
    (d / "entry_points.txt").write_text("\n".join(lines))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    yield tmp_path
    registry.refresh()


def test_a_plugin_section_is_found_and_validated_like_a_builtin(site: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown section 'probe'"):
        load_scenario("bertrand", {"sections": {"probe": {}}})
    dist(site, "probe_plugin", {registry.SECTIONS: {"probe": "tests.agents.probe_section"}})
    registry.refresh()
    assert registry.names(registry.SECTIONS)[:4] == ["emotion", "tom", "memory", "info"]  # built-ins first
    assert section_module("probe").Config is not None
    spec = load_scenario("bertrand", {"sections": {"probe": {"note": "hi"}}})
    assert spec.sections == {"probe": {"note": "hi"}}
    with pytest.raises(ScenarioError, match=r"sections\.probe\.level"):
        load_scenario("bertrand", {"sections": {"probe": {"level": "high"}}})


def test_a_plugin_backbone_kind_is_accepted_by_the_scenario(site: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown backbone kind 'echo'"):
        load_scenario("bertrand", {"backbone.kind": "echo"})
    dist(site, "echo_backbone", {registry.BACKBONES: {"echo": "tests.fakes:FakeLLM"}})
    registry.refresh()
    assert load_scenario("bertrand", {"backbone.kind": "echo"}).backbone.kind == "echo"


def test_a_plugin_cannot_take_a_builtin_name(site: Path) -> None:
    dist(site, "rogue", {registry.ENVIRONMENTS: {"bertrand": "rogue:Market"}})
    registry.refresh()
    with pytest.raises(registry.RegistryError, match="rogue registers 'bertrand', a built-in name"):
        registry.names(registry.ENVIRONMENTS)
