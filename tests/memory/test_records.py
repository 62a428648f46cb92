from sociallm.memory.records import MemoryRecord, clean_text
from sociallm.memory.store import collection_name, parse_url


def test_clean_text_handles_bad_input() -> None:
    assert clean_text("  a \n b ") == ("a b", [])
    text, repairs = clean_text("x" * 50, limit=10)
    assert len(text) == 10 and "truncated from 50 to 10" in repairs[0]
    text, repairs = clean_text(b"caf\xe9 ok")
    assert text == "caf\ufffd ok" and repairs == ["invalid UTF-8 replaced"]
    text, repairs = clean_text("bad \udcff surrogate")
    assert "?" in text and repairs == ["invalid UTF-8 replaced"]
    assert clean_text("   ")[0] == ""


def test_metadata_round_trip() -> None:
    r = MemoryRecord(
        id="A:1", text="t", kind="reflection", created_tick=2, created_seq=30, last_access_tick=2,
        last_access_seq=30, importance=6.5, valence=-0.2, arousal=0.7, sources=["e1"], cites=["A:0"],
    )  # fmt: skip
    meta = r.metadata()
    assert all(isinstance(v, str | int | float | bool) for v in meta.values())
    back = MemoryRecord.from_chroma("A:1", "t", meta)
    assert back.model_dump(exclude={"created_wall"}) == r.model_dump(exclude={"created_wall"})
    no_affect = MemoryRecord.from_chroma("x", "t", MemoryRecord(**{**r.model_dump(), "valence": None}).metadata())
    assert no_affect.valence is None and no_affect.arousal is None


def test_collection_names_are_valid_and_distinct() -> None:
    import re

    for run, agent in [("bertrand-20260101", "Alice"), ("r", "B"), ("x" * 600, "Ünïcode agent!"), ("", "")]:
        name = collection_name(run, agent)
        assert 3 <= len(name) <= 512 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]", name)
    assert collection_name("r", "A b") != collection_name("r", "A-b")


def test_parse_url() -> None:
    assert parse_url("http://127.0.0.1:8123") == ("127.0.0.1", 8123, False)
    assert parse_url("https://chroma.example/") == ("chroma.example", 443, True)
    import pytest

    with pytest.raises(ValueError):
        parse_url("127.0.0.1:8000")
