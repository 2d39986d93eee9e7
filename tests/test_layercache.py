"""The layer cache of `eie reproduce`: keyed by what determines a file's bytes, written atomically,
validated before use, and regenerated (never trusted) when a file is corrupt or not the layer.

NT-We (4096 -> 600 at 10 %) is the quickest Table III layer to generate (about 0.2 s)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from compressor import eiefile
from eie_sim.study import layercache
from eie_sim.workload.benchmarks import DEFAULT_SPARSITY

LAYER = "NT-We"


def test_default_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(layercache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert layercache.default_cache_dir() == tmp_path / "xdg" / "eie-sim"
    monkeypatch.setenv(layercache.ENV, str(tmp_path / "mine"))
    assert layercache.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(layercache.ENV)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert layercache.default_cache_dir() == tmp_path / "home" / ".cache" / "eie-sim"


def test_the_key_names_everything_that_shapes_the_bytes(tmp_path):
    path = layercache.cache_file(tmp_path, LAYER, 0, DEFAULT_SPARSITY)
    assert path.parent.name == (f"layers-eie{eiefile.FORMAT_VERSION}-contract{eiefile.CONTRACT_VERSION}-"
                                "64pe-64regs-64bit") and path.suffix == ".eie"
    others = {layercache.cache_file(tmp_path, LAYER, 1, DEFAULT_SPARSITY),
              layercache.cache_file(tmp_path, LAYER, 0, "uniform"),
              layercache.cache_file(tmp_path, "NT-Wd", 0, DEFAULT_SPARSITY)}
    assert path not in others and len(others) == 3


def test_generated_then_cached_then_regenerated_when_corrupt(tmp_path):
    assert layercache.ensure(tmp_path, LAYER, 0, DEFAULT_SPARSITY) == ("generated", "")
    path = layercache.cache_file(tmp_path, LAYER, 0, DEFAULT_SPARSITY)
    good = path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert layercache.ensure(tmp_path, LAYER, 0, DEFAULT_SPARSITY) == ("cached", "")
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF  # one flipped byte in a section
    path.write_bytes(bytes(bad))
    status, why = layercache.ensure(tmp_path, LAYER, 0, DEFAULT_SPARSITY)
    assert status == "regenerated" and "checksum mismatch" in why
    assert path.read_bytes() == good  # generation is deterministic: the same bytes again
    path.write_bytes(good[:10])  # a torn file
    assert layercache.ensure(tmp_path, LAYER, 0, DEFAULT_SPARSITY)[0] == "regenerated"
    assert path.read_bytes() == good


@pytest.mark.parametrize("other, message", [
    (("NT-We", 1, DEFAULT_SPARSITY), "seed 1 (expected 0)"),
    (("NT-We", 0, "uniform"), "sparsity 'uniform' (expected 'dropout')"),
    (("NT-LSTM", 0, DEFAULT_SPARSITY), "shape (2400, 1201) (expected (600, 4096))"),
])
def test_a_valid_file_of_another_layer_is_not_trusted(tmp_path, other, message):
    layercache.ensure(tmp_path, *other)
    src = layercache.cache_file(tmp_path, *other)
    dst = layercache.cache_file(tmp_path, LAYER, 0, DEFAULT_SPARSITY)
    dst.write_bytes(src.read_bytes())
    status, why = layercache.ensure(tmp_path, LAYER, 0, DEFAULT_SPARSITY)
    assert status == "regenerated" and message in why
    assert layercache.problem(dst, LAYER, 0, DEFAULT_SPARSITY) is None


def test_prepare_counts_and_notes(tmp_path):
    sources = [(LAYER, 0, DEFAULT_SPARSITY), (LAYER, 1, DEFAULT_SPARSITY), (LAYER, 0, DEFAULT_SPARSITY)]
    with ThreadPoolExecutor(2) as ex:
        counts, notes = layercache.prepare(tmp_path, sources, executor=ex, progress=False)
        assert counts == {"generated": 2} and notes == []
        layercache.cache_file(tmp_path, LAYER, 1, DEFAULT_SPARSITY).write_bytes(b"not an eie file")
        counts, notes = layercache.prepare(tmp_path, sources, executor=ex, progress=False)
    assert counts == {"cached": 1, "regenerated": 1}
    assert len(notes) == 1 and notes[0].startswith("regenerated a cached layer that failed validation")
    assert layercache.size_bytes(tmp_path) == sum(
        layercache.cache_file(tmp_path, LAYER, s, DEFAULT_SPARSITY).stat().st_size for s in (0, 1))
