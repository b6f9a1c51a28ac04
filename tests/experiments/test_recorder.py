"""Append-only records: truncation on resume, chunked arrays, O(state) checkpoints, fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from refchaos.experiments.config import RunConfig
from refchaos.experiments.recorder import CHUNKS_DIR, Recorder, RecordError, read_records
from refchaos.experiments.run import run
from refchaos.experiments.rundir import (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE,
                                         CheckpointFallbackWarning, RunDirectory,
                                         RunDirectoryError)

COLUMNS = ["step", "loss", "n_chaotic"]
# Spectrum and ftle every step: the regime whose history the checkpoint must not carry.
SPECTRAL = dict(subset=48, model="mlp:2", batch_size=8, every=1, seed=3,
                measure=("loss", "spectrum", "ftle", "maxexp"), ftle_k=2)


def test_resume_truncates_rows_and_chunks_past_the_checkpoint(tmp_path):
    rec = Recorder(tmp_path, COLUMNS).start()
    for t in range(3):
        rec.append({"step": t, "loss": 0.5 / (t + 1)})
        rec.record("eigenvalues", t, np.arange(t + 1.0))
    state = rec.sync()
    assert state["rows"] == 3 and state["chunks"] == 1
    rec.append({"step": 3, "loss": 0.1, "n_chaotic": 2})  # past the checkpoint
    rec.record("eigenvalues", 3, [7.0])
    rec.sync()
    rec.close()
    with open(tmp_path / "metrics.csv", "ab") as fh:
        fh.write(b"4,0.0")  # a row cut short by kill -9
    rec = Recorder(tmp_path, COLUMNS).resume(state)
    rec.close()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["step,loss,n_chaotic", "0,0.5,", "1,0.25,", f"2,{0.5 / 3!r},"]
    steps, rows = read_records(tmp_path)["eigenvalues"]
    assert steps.tolist() == [0, 1, 2] and [r.tolist() for r in rows] == [[0], [0, 1], [0, 1, 2]]


def test_records_that_do_not_fit_the_checkpoint_are_refused(tmp_path):
    rec = Recorder(tmp_path, COLUMNS).start()
    rec.append({"step": 0, "loss": 1.0})
    rec.record("x", 0, 1.0)
    state = rec.sync()
    rec.close()
    (tmp_path / "metrics.csv").write_text("step,loss,n_chaotic\n")  # cut short
    with pytest.raises(RecordError, match="cut short"):
        Recorder(tmp_path, COLUMNS).resume(state)
    with pytest.raises(RecordError, match="chunks"):
        Recorder(tmp_path, COLUMNS).resume(dict(state, rows=0, csv_bytes=20, chunks=2))
    (tmp_path / CHUNKS_DIR / "chunk_000002.npz").write_bytes(b"")
    with pytest.raises(RecordError, match="chunk 1 is missing"):
        read_records(tmp_path)


def _checkpoint_bytes(tmp_path, steps):
    out = tmp_path / f"s{steps}"
    run(RunConfig(**SPECTRAL, steps=steps), out, progress=False, checkpoint_every=steps // 2)
    rd = RunDirectory(out)
    chunks = sum(p.stat().st_size for p in (out / CHUNKS_DIR).iterdir())
    return rd.checkpoint_path.stat().st_size, chunks, rd.read_arrays()


def test_checkpoint_size_does_not_grow_with_recorded_steps(tmp_path):
    small, chunks_small, _ = _checkpoint_bytes(tmp_path, 10)
    large, chunks_large, arrays = _checkpoint_bytes(tmp_path, 100)
    assert arrays["eigenvalues"].shape[0] == 100 and arrays["ftle"].shape == (100, 2)
    assert chunks_large > 3 * chunks_small  # the history is recorded (fixed zip overhead aside) ...
    assert abs(large - small) <= 64  # ... but not in the checkpoint (a few digits of JSON)


def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path):
    cfg = RunConfig(**SPECTRAL, steps=20)
    ref = tmp_path / "ref"
    run(cfg, ref, progress=False, checkpoint_every=4)
    out = tmp_path / "run"

    def crash(step, row):
        if step == 13:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        run(cfg, out, progress=False, checkpoint_every=4, on_step=crash)
    rd = RunDirectory(out)
    newest = rd.checkpoint_path.read_bytes()
    rd.checkpoint_path.write_bytes(newest[: len(newest) // 2])  # cut short by a crash
    with pytest.warns(CheckpointFallbackWarning, match="corrupt.*checkpoint.prev.npz \\(step 8\\)"):
        summary = run(None, out, resume=True, progress=False, checkpoint_every=4)
    assert summary["status"] == "completed" and summary["resumed_at"] == [8]
    assert (out / "metrics.csv").read_bytes() == (ref / "metrics.csv").read_bytes()
    a, b = rd.read_arrays(), RunDirectory(ref).read_arrays()
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def test_no_complete_checkpoint_is_a_clear_refusal(tmp_path):
    out = tmp_path / "run"

    def crash(step, row):
        if step == 9:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        run(RunConfig(**SPECTRAL, steps=20), out, progress=False, checkpoint_every=4,
            on_step=crash)
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        (out / name).write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(RunDirectoryError, match="no complete checkpoint is left"):
        run(None, out, resume=True, progress=False)
