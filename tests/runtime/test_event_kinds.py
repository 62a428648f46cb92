"""Event kinds are open to plug-ins (namespaced) while the core kinds stay validated."""

import pytest
from pydantic import ValidationError

from sociallm.runtime.events import CORE_KINDS, Event


def test_core_and_namespaced_kinds_are_accepted() -> None:
    for kind in CORE_KINDS:
        assert Event(kind=kind, source="x").kind == kind
    assert Event(kind="mygame.note", source="x").kind == "mygame.note"
    # A logged plug-in event survives the JSON round trip the log and the bus make.
    ev = Event(kind="mysection.score", source="Alice", payload={"score": 1})
    assert Event.model_validate_json(ev.model_dump_json()) == ev


@pytest.mark.parametrize("kind", ["score", "Mysection.score", "messages", "a..b", ".x", ""])
def test_a_kind_neither_core_nor_namespaced_is_refused_with_the_fix(kind: str) -> None:
    with pytest.raises(ValidationError, match=r"kind\.constrained-str\n  String should match pattern"):
        Event(kind=kind, source="x")
