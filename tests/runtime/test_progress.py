"""Progress of long work: a line on a terminal for run() / Experiment.run(), nothing off a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sociallm.orchestration.api import Experiment, run
from sociallm.runtime.progress import ProgressLine, eta, fmt_duration
from tests.fakes import FakeLLM


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_eta_counts_only_this_sessions_pace() -> None:
    # 4 rounds done at start (a resume), 2 more in 10 s: 6 left take 30 s, not 6 * 10/6.
    assert eta(100.0, 4, 6, 12, now=110.0) == pytest.approx(30.0)
    assert eta(100.0, 4, 4, 12, now=110.0) is None  # no pace yet
    assert eta(100.0, 4, 12, 12, now=110.0) == 0.0
    assert fmt_duration(59.4) == "59 s" and fmt_duration(125) == "2 min 05 s" and fmt_duration(3720) == "1 h 02 min"


def test_line_on_a_terminal_and_silence_elsewhere() -> None:
    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        line = ProgressLine("sweeps/x", 10, stream=stream)
        line.update(0)
        line.update(4, "1/5 runs")
        line.close()
    assert pipe.getvalue() == ""
    shown = tty.getvalue()
    assert shown.startswith("\rsweeps/x: 0/10 rounds") and "4/10 rounds, 1/5 runs" in shown and "left" in shown
    assert shown.endswith("\n")


def test_run_and_experiment_show_progress_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("bertrand", tmp_path / "one", rounds=3, llm=FakeLLM(), progress=True)
    err = capsys.readouterr().err
    assert "bertrand → " in err and "3/3 rounds" in err
    run("bertrand", tmp_path / "quiet", rounds=2, llm=FakeLLM())  # stderr is no terminal here: silent
    assert capsys.readouterr().err == ""
    exp = Experiment("bertrand", seeds=2, rounds=2)
    exp.condition("silent", comm="none")
    exp.run(tmp_path / "sweep", jobs=2, llm=FakeLLM(), progress=True)
    err = capsys.readouterr().err
    assert "4/4 rounds, 2/2 runs" in err
    with pytest.raises(TypeError, match="progress: expected True, False or None"):
        exp.run(tmp_path / "sweep", llm=FakeLLM(), progress="yes")  # type: ignore[arg-type]
