"""Atomic writers: complete new content or the old file untouched, and no temporary files left."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from refchaos.io import (NEW_FILE_MODE, TEMP_SUFFIX, atomic_open, atomic_write_bytes,
                         atomic_write_csv, atomic_write_json, atomic_write_npz, atomic_write_text,
                         json_safe)


def _names(folder):
    return sorted(os.listdir(folder))


def test_round_trips(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\xff")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\xff"
    atomic_write_text(tmp_path / "b.txt", "λ = ln|1 - lr a|\r\n")
    assert (tmp_path / "b.txt").read_bytes() == "λ = ln|1 - lr a|\r\n".encode()
    atomic_write_json(tmp_path / "c.json", {"b": 1, "a": [1.5, None]})
    text = (tmp_path / "c.json").read_text()
    assert json.loads(text) == {"a": [1.5, None], "b": 1} and text.endswith("\n")
    assert text.index('"a"') < text.index('"b"')
    atomic_write_npz(tmp_path / "d.npz", theta=np.arange(3.0), step=np.int64(7))
    with np.load(tmp_path / "d.npz") as f:
        np.testing.assert_array_equal(f["theta"], [0.0, 1.0, 2.0])
        assert int(f["step"]) == 7
    atomic_write_npz(tmp_path / "e.npz", compressed=True, y=np.ones((2, 2)))
    with np.load(tmp_path / "e.npz") as f:
        np.testing.assert_array_equal(f["y"], np.ones((2, 2)))
    atomic_write_csv(tmp_path / "f.csv", [(0, 1.5), (1, "x,y")], header=("step", "value"))
    assert (tmp_path / "f.csv").read_text() == 'step,value\n0,1.5\n1,"x,y"\n'
    assert _names(tmp_path) == ["a.bin", "b.txt", "c.json", "d.npz", "e.npz", "f.csv"]


def test_failure_inside_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_open(target) as fh:
            fh.write(b"half of the new")
            assert any(n.endswith(TEMP_SUFFIX) for n in _names(tmp_path))
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["checkpoint.npz"]


def test_overwrite_replaces_whole_content(tmp_path):
    atomic_write_text(tmp_path / "m.txt", "a much longer first version\n")
    atomic_write_text(tmp_path / "m.txt", "short\n")
    assert (tmp_path / "m.txt").read_text() == "short\n"


def test_bad_input_raises_before_touching_the_target(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic_write_json(target, {"lam": float("nan")})
    assert not target.exists() and _names(tmp_path) == []
    atomic_write_json(target, {"lam": float("nan")}, allow_nan=True)
    assert "NaN" in target.read_text()
    with pytest.raises(TypeError, match="dtype object"):
        atomic_write_npz(tmp_path / "o.npz", a=np.array([{}, 1], dtype=object))
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "r", "rb"):
            pass
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no-such-dir" / "f", b"")


def test_json_safe_gives_strict_json(tmp_path):
    doc = {"nan": float("nan"), "inf": -np.inf, "np": np.float64(0.5), "i": np.int64(3),
           1: [np.nan, (2.0, np.float32(np.inf))], "s": "x"}
    safe = json_safe(doc)
    assert safe == {"nan": None, "inf": None, "np": 0.5, "i": 3, "1": [None, [2.0, None]], "s": "x"}
    assert type(safe["np"]) is float and type(safe["i"]) is int
    json.dumps(safe, allow_nan=False)  # raises if anything non-finite survived


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_new_files_get_the_umask_mode_and_overwrites_keep_theirs(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "a.json"
    atomic_write_json(target, {"a": 1})
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask == NEW_FILE_MODE
    os.chmod(target, 0o640)
    atomic_write_json(target, {"a": 2})
    assert target.stat().st_mode & 0o777 == 0o640
