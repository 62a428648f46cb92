"""A small sweep end to end on the real embedded model, then its report and a replay of one run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.test_cli import sociallm


@pytest.mark.integration
def test_tiny_sweep_report_and_replay_on_the_embedded_model(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = sociallm(
        "sweep", "bertrand", "--seeds", "1", "--set", "comm=none,public", "--rounds", "1", "--out", str(out), "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2/2 runs completed" in proc.stdout and "mean_delta" in proc.stdout
    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert {r["condition"] for r in rows} == {"comm=none", "comm=public"}
    deltas = [r for r in rows if r["metric"] == "delta" and r["round"] == 1]
    assert len(deltas) == 2
    talk = (out / "runs" / "comm-public" / "seed-7" / "events.jsonl").read_text()
    assert '"kind":"message"' in talk
    assert '"kind":"message"' not in (out / "runs" / "comm-none" / "seed-7" / "events.jsonl").read_text()

    # The sweep again: everything is done, nothing runs, the table is rewritten the same.
    again = sociallm("sweep", "--resume", str(out), cwd=tmp_path)
    assert again.returncode == 0 and "(2 already done)" in again.stdout

    rep = sociallm("report", str(out), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr[-2000:]
    assert (out / "report.md").exists() and (out / "by_condition.png").exists()

    # The chat run replays byte for byte from its recorded model replies.
    run_dir = out / "runs" / "comm-public" / "seed-7"
    rp = sociallm("replay", str(run_dir), "--out", str(tmp_path / "replay"), cwd=tmp_path)
    assert rp.returncode == 0, rp.stderr[-2000:]
    assert "identical" in rp.stdout
