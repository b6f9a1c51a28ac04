"""The sweep in chunks: the same table for every chunk size (to rounding; bit for bit for the
same chunk plan, :mod:`tests.experiments.sweep_tables`), resume after an interrupted chunk, the
recorded chunk plan, the chunk size from the memory, progress from workers."""

from __future__ import annotations

import math
import queue
from dataclasses import replace

import pytest

import refchaos.experiments.sweep as sweep_mod
from refchaos.experiments import chunks
from refchaos.experiments.config import ConfigError
from refchaos.experiments.progress import Progress
from refchaos.experiments.sweep import SweepConfig, SweepError, default_base, point_path, run_sweep
from refchaos.nn import mlp

from .sweep_tables import assert_same_to_rounding, csv_text

TINY = SweepConfig(base=replace(default_base(), model="mlp:4", epochs=8, subset=120),
                   lrs=(0.05, 3.0), seeds=(0, 1), copies=2, target=0.2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep in one chunk of all four points (its directory)."""
    out = tmp_path_factory.mktemp("ref") / "s"
    run_sweep(TINY, out, figures=False, chunk_size=4)
    return out


@pytest.mark.parametrize("size, expect", [
    (1, [[(0.05, 0)], [(3.0, 0)], [(0.05, 1)], [(3.0, 1)]]),
    (2, [[(0.05, 0), (3.0, 0)], [(0.05, 1), (3.0, 1)]]),
    (3, [[(0.05, 0), (3.0, 0), (0.05, 1)], [(3.0, 1)]]),
])
def test_every_chunk_size_gives_the_same_table(reference, tmp_path, size, expect):
    out = tmp_path / "s"
    lines = []
    run_sweep(TINY, out, figures=False, chunk_size=size, progress=lines.append)
    assert_same_to_rounding(out, reference)
    stored = chunks.io.read_json(out / chunks.CHUNKS_FILE)
    assert stored["chunk_size"] == size and stored["order"] == "seed-major"
    assert [[tuple(p) for p in c] for c in stored["chunks"]] == expect
    assert f"in {len(expect)} chunk(s) of up to {size} points (--chunk-size)" in lines[0]
    assert len(lines) == 1 + 4  # one line per written point


SHARED = SweepConfig(base=replace(default_base(), model="mlp:8", epochs=20),
                     lrs=(0.05, 3.0), seeds=(0,), copies=2, target=0.2)


def test_chunk_sizes_agree_within_rounding_where_members_share_the_input(tmp_path):
    # Without a seeded subset every member multiplies the one full-batch x, so the chunk sets
    # the width of the first layer's GEMM for every chunk size (the argument for the tolerance:
    # tests/experiments/sweep_tables.py).
    for size in (1, 2):
        run_sweep(SHARED, tmp_path / f"s{size}", figures=False, chunk_size=size)
    assert_same_to_rounding(tmp_path / "s1", tmp_path / "s2")


def test_interrupted_after_a_chunk_resumes_with_the_recorded_chunks(tmp_path, monkeypatch):
    whole = tmp_path / "whole"  # the same chunk plan, uninterrupted: a resume equals it bit for bit
    run_sweep(TINY, whole, figures=False, chunk_size=2)
    out = tmp_path / "s"
    calls = []
    real = sweep_mod.run_chunk

    def interrupted_second(sweep_dict, points, tick=None):
        calls.append(points)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(sweep_dict, points, tick)

    monkeypatch.setattr(sweep_mod, "run_chunk", interrupted_second)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(TINY, out, figures=False, chunk_size=2)
    assert sorted(p.name for p in (out / "points").glob("*.json")) == [
        point_path(out, 0.05, 0).name, point_path(out, 3.0, 0).name]  # the finished chunk only
    monkeypatch.setattr(sweep_mod, "run_chunk", real)
    kept = {p: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
    lines = []
    run_sweep(TINY, out, figures=False, progress=lines.append)  # chunk size from chunks.json
    assert ("2 of 4 points already done, 2 to run in 1 chunk(s) of up to 2 points (recorded in "
            "chunks.json)") in lines[0]
    assert all(p.stat().st_mtime_ns == m for p, m in kept.items())
    assert csv_text(out) == csv_text(whole)
    # A chunk cut off between the writes of its points runs whole; only the lost point is written.
    point_path(out, 3.0, 1).unlink()
    kept = {p: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
    lines = []
    run_sweep(TINY, out, figures=False, progress=lines.append)
    assert len(lines) == 2 and "lr=3 seed=1" in lines[1]
    assert all(p.stat().st_mtime_ns == m for p, m in kept.items())
    assert csv_text(out) == csv_text(whole)
    with pytest.raises(SweepError, match="cut into chunks of 2 points.*give 2"):
        run_sweep(TINY, out, figures=False, chunk_size=3)


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_bad_chunk_size_is_refused_before_work(tmp_path, size):
    with pytest.raises(ConfigError, match="--chunk-size"):
        run_sweep(TINY, tmp_path / "x", figures=False, chunk_size=size)
    assert not (tmp_path / "x").exists()


def test_chunk_size_from_the_memory_available(tmp_path):
    members = chunks.members_per_point(5)
    assert members == 7  # reference + 5 copies + tangent vector
    per = 1000
    enough_for_3 = 3 * members * per / chunks.MEMORY_FRACTION
    assert chunks.auto_chunk_size(16, members, per, 1, enough_for_3) == 3
    assert chunks.auto_chunk_size(16, members, per, 2, enough_for_3) == 1  # two workers share it
    assert chunks.auto_chunk_size(16, members, per, 2, 1e12) == 8  # at most points / workers
    assert chunks.auto_chunk_size(16, members, per, 1, 10.0) == 1
    assert chunks.auto_chunk_size(16, members, per, 1, None) == 1  # memory unknown
    # plenty of memory, one worker: at most MAX_CHUNK_MEMBERS trajectories (64 // 7 = 9 points)
    assert chunks.auto_chunk_size(80, members, per, 1, 1e12) == chunks.MAX_CHUNK_MEMBERS // 7
    # J25's network on all of MNIST: 4 (B, width) arrays per layer output and 4 copies of theta.
    model = mlp([784, 64, 10], activation="tanh")
    assert chunks.member_bytes(model, 60000) == 8 * (4 * 60000 * (64 + 64 + 10) + 4 * 50890)
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:  2048 kB\nMemAvailable:   1024 kB\n")
    assert chunks.available_memory(info) == 1024 * 1024
    assert chunks.available_memory(tmp_path / "absent") is None


def test_progress_counts_worker_steps_and_tops_up_a_short_chunk(monkeypatch):
    q = queue.Queue()
    monkeypatch.setattr(chunks, "REDRAW_S", math.inf)  # send only at the end of the chunk

    def runner(sweep_dict, points, tick=None):
        for _ in range(5 * len(points)):
            tick()
        return [{"lr": lr, "seed": s} for lr, s in points]

    out = chunks.run_in_process(runner, {}, [(0.1, 0), (0.2, 0)], q, key=7)
    assert out == [{"lr": 0.1, "seed": 0}, {"lr": 0.2, "seed": 0}]
    assert q.get_nowait() == (7, 10) and q.empty()
    with Progress(24, 0, enabled=False) as meter:
        steps = chunks.ChunkProgress(meter, steps_per_point=6)
        steps.add(7, 10)
        assert meter.done == 10
        steps.chunk_done(7, 2)  # two points of 6 steps: the 2 steps a divergence skipped
        assert meter.done == 12


def test_a_failing_chunk_is_named_by_its_points(tmp_path, monkeypatch):
    def boom(sweep_dict, points, tick=None):
        raise ValueError("boom")

    monkeypatch.setattr(sweep_mod, "run_chunk", boom)
    with pytest.raises(SweepError, match=r"chunk \(lr=0.05 seed=0, lr=3.0 seed=0\) failed: "
                                         r"ValueError: boom"):
        run_sweep(TINY, tmp_path / "s", figures=False, chunk_size=2)
    assert not list((tmp_path / "s" / "points").glob("*.json"))
