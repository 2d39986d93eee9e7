"""Benchmark layers' sparsity models: the rules file, the generated layers, refusal of unknown names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from compressor.errors import EieFormatError, EieInputError
from compressor.prune import prune_to_density
from eie_sim.study import sweep
from eie_sim.workload import benchmarks as workloads
from eie_sim.workload.benchmarks import (
    DEFAULT_SPARSITY,
    RULE_FIELDS,
    SPARSITY_MODELS,
    VARIATION,
    VARIATION_RULES,
    benchmark_model,
    density_variation,
    load_variation_rules,
    scaled_laplace,
    trained_like_weights,
    variation_spreads,
)

HEADER = ",".join(RULE_FIELDS)
GOOD = {
    "dropout": "dropout,0.30,0.40,ip2 with dropout,0.5,0.7,0 1 2,2026-12-01,abc,python x.py",
    "no-dropout": "no-dropout,0.60,0.56,ip2 without,1.0,1.0,0 1 2,2026-12-01,abc,python x.py",
}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "rules.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


# --------------------------------------------------------------------------- the rules file


def test_packaged_rules_are_read_with_their_provenance():
    assert SPARSITY_MODELS == ("dropout", "no-dropout", "uniform")
    assert DEFAULT_SPARSITY == "dropout" == SPARSITY_MODELS[0]  # the CLI takes its default from [0]
    assert VARIATION == VARIATION_RULES["dropout"].spreads()
    for name in ("dropout", "no-dropout"):
        rule = VARIATION_RULES[name]
        assert 0 <= rule.row_sigma <= 1.5 and 0 <= rule.col_sigma <= 1.5
        assert rule.target_row_cv > 0 and rule.target_col_cv > 0
        assert "ip2" in rule.fitted_to and "measure_variation.py" in rule.command
        assert len(rule.seeds.split()) >= 3 and rule.date.startswith("20") and rule.commit
    assert "no dropout" in VARIATION_RULES["no-dropout"].fitted_to
    assert "dropout 0.5" in VARIATION_RULES["dropout"].fitted_to
    assert variation_spreads("uniform") == {"row_sigma": 0.0, "col_sigma": 0.0}


def test_a_good_file_reads_back(tmp_path):
    rules = load_variation_rules(_write(tmp_path, [HEADER + ",note", *[g + ",extra" for g in GOOD.values()]]))
    assert list(rules) == ["dropout", "no-dropout"]
    assert rules["dropout"].spreads() == {"row_sigma": 0.30, "col_sigma": 0.40}


@pytest.mark.parametrize(("lines", "field"), [
    ([HEADER.replace(",col_sigma", ""), GOOD["dropout"].replace(",0.40", "")], "col_sigma"),
    ([HEADER, GOOD["dropout"].replace("0.30", "abc"), GOOD["no-dropout"]], "row_sigma"),
    ([HEADER, GOOD["dropout"].replace("0.40", "-0.1"), GOOD["no-dropout"]], "col_sigma"),
    ([HEADER, GOOD["dropout"].replace("0.40", "nan"), GOOD["no-dropout"]], "col_sigma"),
    ([HEADER, GOOD["dropout"].replace("2026-12-01", ""), GOOD["no-dropout"]], "date"),
    ([HEADER, GOOD["dropout"].replace(",python x.py", ""), GOOD["no-dropout"]], "command"),
    ([HEADER, GOOD["dropout"], GOOD["dropout"], GOOD["no-dropout"]], "name"),
    ([HEADER, GOOD["dropout"]], "name"),  # the no-dropout rule is missing
    ([HEADER, *GOOD.values(), GOOD["dropout"].replace("dropout,", "uniform,", 1)], "name"),
    (["name,name,col_sigma", "a,b,c"], "row_sigma"),
])
def test_garbled_rules_name_the_file_and_field(tmp_path, lines, field):
    path = _write(tmp_path, lines)
    with pytest.raises(EieFormatError) as e:
        load_variation_rules(path)
    assert str(path) in str(e.value) and field in str(e.value)


def test_unreadable_rules_file(tmp_path):
    with pytest.raises(EieFormatError, match="nope.csv"):
        load_variation_rules(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- the generated layers


def _cvs(sparsity: str, seeds=range(4), shape=(256, 512), density=0.09) -> np.ndarray:
    out = []
    for s in seeds:
        mask = prune_to_density(trained_like_weights(*shape, s, sparsity), density)
        assert mask.sum() == round(density * mask.size)  # at the requested density
        out.append(density_variation(mask))
    return np.mean(out, axis=0)


def test_every_model_prunes_to_the_density_with_the_measured_ordering():
    cv = {m: _cvs(m) for m in SPARSITY_MODELS}
    # uniform is iid: only binomial noise, sqrt((1 - d) / (d n)) per row
    assert cv["uniform"][0] == pytest.approx(np.sqrt(0.91 / (0.09 * 512)), rel=0.15)
    # measured on LeNet-300-100 ip2 (docs/WORKLOADS.md): dropout spreads use over units, so its
    # rows and columns vary less than without dropout, and both more than iid weights
    for k in (0, 1):
        assert cv["uniform"][k] < cv["dropout"][k] < cv["no-dropout"][k]


def test_uniform_is_the_rule_with_zero_spreads():
    np.testing.assert_array_equal(trained_like_weights(30, 40, 3, "uniform"), scaled_laplace(30, 40, 3, 0, 0))
    np.testing.assert_array_equal(trained_like_weights(30, 40, 3), trained_like_weights(30, 40, 3, "dropout"))
    rule = VARIATION_RULES["no-dropout"]
    np.testing.assert_array_equal(trained_like_weights(30, 40, 3, "no-dropout"),
                                  scaled_laplace(30, 40, 3, rule.row_sigma, rule.col_sigma))


@pytest.mark.parametrize("name", ["varied", "Dropout", "", "no_dropout"])
def test_unknown_models_are_refused_naming_the_valid_ones(name):
    for call in (lambda: trained_like_weights(4, 4, 0, name), lambda: variation_spreads(name),
                 lambda: benchmark_model("Alex-8", sparsity=name),
                 lambda: sweep.make_points(["Alex-8"], {"n_pes": [4]}, sparsity=name)):
        with pytest.raises(EieInputError) as e:
            call()
        assert all(m in str(e.value) for m in SPARSITY_MODELS)


def test_bad_spreads_are_refused():
    with pytest.raises(EieInputError, match="spreads"):
        scaled_laplace(4, 4, 0, -0.1, 0.0)


def test_sweep_cache_key_follows_the_rules_spreads(tmp_path, monkeypatch):
    key = {m: sweep._cache_file(tmp_path, "Alex-7", 0, m, (None, None)) for m in SPARSITY_MODELS}
    assert len(set(key.values())) == len(SPARSITY_MODELS)
    changed = dataclasses.replace(VARIATION_RULES["dropout"], row_sigma=0.123)
    monkeypatch.setitem(workloads.VARIATION_RULES, "dropout", changed)
    assert sweep._cache_file(tmp_path, "Alex-7", 0, "dropout", (None, None)) != key["dropout"]
    assert sweep._cache_file(tmp_path, "Alex-7", 0, "uniform", (None, None)) == key["uniform"]
