"""Shared test helpers: build the same layer for the engines (encoded) and the oracle (dense)."""

from __future__ import annotations

import os
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import settings

from compressor.encode import encode_layer
from compressor.model import EncodedModel
from eie_sim.config import SimConfig
from eie_sim.simulate import CHECK_ENV
from tests.oracle import Hardware, RefLayer

# Every simulation in the test suite runs its conservation checks (eie_sim.checks),
# worker processes included: they inherit the environment.
os.environ[CHECK_ENV] = "1"

# Bounded example counts keep the suite inside its time budget on 2 cores.
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("ci")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The ``eie`` command line, in-process: (exit code, stdout, stderr)."""
    from eie_sim.study.cli import main

    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def random_codes(rng: np.random.Generator, m: int, ncols: int, density: float,
                 wbits: int = 4) -> np.ndarray:
    keep = rng.random((m, ncols)) < density
    return (keep * rng.integers(1, 1 << wbits, (m, ncols))).astype(np.uint8)


def random_codebook(rng: np.random.Generator, wbits: int = 4, scale: float = 0.1) -> np.ndarray:
    return np.concatenate([[0.0], np.sort(rng.normal(0, scale, (1 << wbits) - 1))])


def pair(codes: np.ndarray, codebook: np.ndarray, *, has_bias: bool, config: SimConfig,
         name: str = "layer", ibits: int = 4, wbits: int = 4):
    """(EncodedLayer for the engines, RefLayer for the oracle) of one code matrix."""
    n = codes.shape[1] - int(has_bias)
    enc = encode_layer(codes, codebook, n=n, has_bias=has_bias, wbits=wbits, ibits=ibits,
                       n_pes=config.n_pes, regs=config.regs, word_bits=config.word_bits, name=name)
    return enc, RefLayer(codes, codebook, has_bias, wbits=wbits, ibits=ibits)


def oracle_hw(config: SimConfig) -> Hardware:
    """The oracle's parameters: the configuration's fields of the same names."""
    return Hardware(**{f.name: getattr(config, f.name) for f in fields(Hardware)})


def model_of(layers, fa: int, **kw) -> EncodedModel:
    return EncodedModel(tuple(layers), fa=fa, **kw)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
