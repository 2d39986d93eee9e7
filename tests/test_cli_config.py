"""The command line's configuration: every architecture flag and ``--config`` TOML reach SimConfig.

Flags are parsed with ``build_parser()`` and resolved with ``resolve_config``; runs of
``eie simulate``, ``eie compress`` and ``eie inspect`` are in-process (``main([...])``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from eie_sim.config import FIELDS, FLAG, SimConfig
from eie_sim.study.cli import build_parser, main, resolve_config

ENERGY_CSV = Path(__file__).resolve().parents[1] / "eie_sim" / "data" / "energy_45nm.csv"

# flag -> (SimConfig field, a non-default value as typed, the value the field must take)
FLAG_CASES: dict[str, tuple[str, str, object]] = {
    "--pes": ("n_pes", "8", 8),
    "--fifo": ("queue_depth", "3", 3),
    "--broadcast-latency": ("broadcast_latency", "4", 4),
    "--ptr-banks": ("ptr_banks", "1", 1),
    "--bypass": ("bypass", "off", False),
    "--acc-latency": ("acc_latency", "3", 3),
    "--regs": ("regs", "16", 16),
    "--spmat-kb": ("spmat_bytes", "64", 64 * 1024),
    "--word-bits": ("word_bits", "128", 128),
    "--ptr-kb": ("ptr_bytes", "32", 32 * 1024),
    "--ptr-bits": ("ptr_bits", "20", 20),
    "--column-bitmap": ("column_bitmap", "on", True),
    "--act-kb": ("act_bytes", "4", 4 * 1024),
    "--stop-rule": ("stop_rule", "authors", "authors"),
    "--acc-bits": ("acc_bits", "24", 24),
    "--clock-mhz": ("clock_hz", "1000", 1e9),
    "--dram-bw": ("dram_gbps", "8.5", 8.5),
    "--dram-latency": ("dram_latency_ns", "50", 50.0),
    "--dram-pj-per-bit": ("dram_pj_per_bit", "10", 10.0),
    "--energy-table": ("energy_table", "<energy.csv>", "<energy.csv>"),  # a copied CSV, see below
    "--max-cycles": ("max_cycles", "1000000", 1_000_000),
}


def subparser(name: str) -> argparse.ArgumentParser:
    """The ``eie NAME`` subparser of :func:`build_parser`."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def architecture_flags(command: str = "simulate") -> set[str]:
    """The long options of the command's architecture group."""
    group = next(g for g in subparser(command)._action_groups if g.title.startswith("architecture"))
    return {opt for action in group._group_actions for opt in action.option_strings if opt.startswith("--")}


@pytest.fixture
def energy_csv(tmp_path: Path) -> str:
    """A copy of the packaged energy table at a non-default path."""
    path = tmp_path / "my_energy.csv"
    shutil.copy(ENERGY_CSV, path)
    return str(path)


def case(flag: str, energy_csv: str) -> tuple[str, str, object]:
    field, text, value = FLAG_CASES[flag]
    if flag == "--energy-table":
        return field, energy_csv, energy_csv
    return field, text, value


def resolve(argv: list[str]) -> SimConfig:
    return resolve_config(build_parser().parse_args(["simulate", "m.eie", *argv]))


# ----------------------------------------------------------------------------- flags -> fields


def test_every_field_has_a_flag() -> None:
    """The parser's architecture flags are exactly the table's, and cover every SimConfig field."""
    # --dram: a preset of the three DRAM fields, not a field of its own
    assert architecture_flags("simulate") == {*FLAG_CASES, "--check", "--config", "--dram"}
    assert {f.name for f in fields(SimConfig)} == {field for field, _, _ in FLAG_CASES.values()} | {"check"}
    assert {f.option: f.name for f in FIELDS if f.name != "check"} == {
        flag: field for flag, (field, _, _) in FLAG_CASES.items()}


def test_defaults_without_flags() -> None:
    assert resolve([]) == SimConfig()


@pytest.mark.parametrize("flag", sorted(FLAG_CASES))
def test_flag_sets_its_field(flag: str, energy_csv: str) -> None:
    """The flag changes its field to the given non-default value and no other field."""
    field, text, value = case(flag, energy_csv)
    assert getattr(SimConfig(), field) != value
    config = resolve([flag, text])
    assert getattr(config, field) == value
    assert type(getattr(config, field)) is type(value)
    assert config.replace(**{field: getattr(SimConfig(), field)}) == SimConfig()


def test_check_flag() -> None:
    assert resolve(["--check"]) == SimConfig(check=True)


def test_fractional_kilobytes() -> None:
    config = resolve(["--spmat-kb", "0.5", "--ptr-kb", "0.25", "--act-kb", "1.5"])
    assert (config.spmat_bytes, config.ptr_bytes, config.act_bytes) == (512, 256, 1536)


#: Every flag at once but the authors' stop rule, which needs the bypass these cases turn off.
TOGETHER = [flag for flag in FLAG_CASES if flag != "--stop-rule"]


def test_all_flags_together(energy_csv: str) -> None:
    argv, want = [], {}
    for flag in TOGETHER:
        field, text, value = case(flag, energy_csv)
        argv += [flag, text]
        want[field] = value
    assert resolve([*argv, "--check"]) == SimConfig(check=True, **want)


@pytest.mark.parametrize("argv", [["--pes", "eight"], ["--pes", "0"], ["--word-bits", "12"],
                                  ["--energy-table", "no-such.csv"]])
def test_bad_flag_values_are_input_errors(argv: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A bad value exits 2 with a message naming the flag or field, before any work."""
    w = tmp_path / "w.npy"
    np.save(w, np.ones((4, 6), np.float32))
    assert main(["simulate", "--weights", str(w), *argv]) == 2
    err = capsys.readouterr().err
    name = argv[0].lstrip("-")
    assert name in err or FLAG[name.replace("-", "_")].name in err, err


# ----------------------------------------------------------------------------- TOML


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_toml(path: Path, values: dict[str, object]) -> Path:
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in values.items()), encoding="utf-8")
    return path


def test_toml_sets_every_field(tmp_path: Path, energy_csv: str) -> None:
    want = {field: value for field, _, value in (case(f, energy_csv) for f in TOGETHER)}
    want["check"] = True
    toml = write_toml(tmp_path / "arch.toml", want)
    assert resolve(["--config", str(toml)]) == SimConfig(**want)


def test_toml_relative_energy_table(tmp_path: Path) -> None:
    """A relative energy_table path in the TOML is relative to the TOML file."""
    (tmp_path / "conf").mkdir()
    shutil.copy(ENERGY_CSV, tmp_path / "conf" / "table.csv")
    toml = write_toml(tmp_path / "conf" / "arch.toml", {"energy_table": "table.csv"})
    config = resolve(["--config", str(toml)])
    assert config.energy_table == str((tmp_path / "conf" / "table.csv").resolve())


@pytest.mark.parametrize("flag", sorted(FLAG_CASES))
def test_flag_wins_over_toml(flag: str, tmp_path: Path, energy_csv: str) -> None:
    """TOML sets every field; the one flag given overrides its field, the rest stay the TOML's."""
    field, text, value = case(flag, energy_csv)
    in_file = {"n_pes": 4, "queue_depth": 2, "broadcast_latency": 3, "ptr_banks": 2, "bypass": True,
               "acc_latency": 5, "regs": 8, "spmat_bytes": 4096, "word_bits": 32,
               "ptr_bytes": 1024, "ptr_bits": 16, "column_bitmap": False, "act_bytes": 512,
               "stop_rule": "drain",
               "acc_bits": 20, "clock_hz": 5e8,
               "dram_gbps": 4.0, "dram_latency_ns": 7.0, "dram_pj_per_bit": 1.5,
               "energy_table": str(ENERGY_CSV), "max_cycles": 123456789}
    assert in_file[field] != value
    toml = write_toml(tmp_path / "arch.toml", in_file)
    config = resolve(["--config", str(toml), flag, text])
    assert config == SimConfig(**{**in_file, field: value})


def test_toml_takes_the_flags_names_and_units(tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "arch.toml", {"pes": 8, "fifo": 3, "spmat_kb": 64, "clock_mhz": 1000,
                                                "bypass": False, "ptr_banks": 1, "dram_bw": 8})
    assert resolve(["--config", str(toml)]) == SimConfig(
        n_pes=8, queue_depth=3, spmat_bytes=64 * 1024, clock_hz=1e9, bypass=False, ptr_banks=1,
        dram_gbps=8.0)


@pytest.mark.parametrize("values,message", [
    ({"spmat_kb": 64, "spmat_bytes": 1024}, "given twice"),
    ({"clock_mhz": "fast"}, "clock_mhz.*number"),
    ({"spmat_kb": 0.1}, "whole number of bytes"),
    ({"bypass": "maybe"}, "bypass = .maybe. must be true or false"),
    ({"fifo": 0}, "queue_depth = 0"),
])
def test_bad_toml_names_the_key(tmp_path: Path, values: dict, message: str) -> None:
    from compressor.errors import EieError

    toml = write_toml(tmp_path / "arch.toml", values)
    with pytest.raises(EieError, match=message):
        resolve(["--config", str(toml)])


def test_printed_configuration_uses_the_flags_units(capsys: pytest.CaptureFixture[str]) -> None:
    from eie_sim.study.cli import print_config

    print_config(SimConfig(spmat_bytes=64 * 1024, clock_hz=1e9, bypass=False))
    out = capsys.readouterr().out
    assert re.search(r"--spmat-kb\s+64 KB", out) and re.search(r"--clock-mhz\s+1000 MHz", out)
    assert re.search(r"--bypass\s+off", out) and "spmat_bytes" not in out


def test_help_shows_defaults_with_units(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("[default 128 KB]", "[default 800 MHz]", "[default 8 activations]", "[default on]",
                 "[default 2 cycles]"):
        assert text in out, text


def test_check_flag_wins_over_toml(tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "arch.toml", {"check": False, "n_pes": 2})
    assert resolve(["--config", str(toml), "--check"]) == SimConfig(n_pes=2, check=True)


def test_bad_toml_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = write_toml(tmp_path / "arch.toml", {"n_pes": 4, "no_such_field": 1})
    w = tmp_path / "w.npy"
    np.save(w, np.ones((4, 6), np.float32))
    assert main(["simulate", "--weights", str(w), "--config", str(toml)]) == 2
    err = capsys.readouterr().err
    assert "arch.toml" in err and "no_such_field" in err


# ----------------------------------------------------------------------------- in-process runs


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "w.npy"
    np.save(path, np.random.default_rng(0).laplace(size=(24, 40)).astype(np.float32))
    return path


def config_block(out: str) -> dict[str, str]:
    """The printed configuration (the first lines of the output): flag -> value text with unit."""
    lines = out.splitlines()
    assert lines[0] == "configuration:", out[:200]
    block = {}
    for line in lines[1:]:
        m = re.fullmatch(r"  (--[\w-]+)\s+(.*)", line)
        if not m:
            break
        block[m[1]] = m[2]
    return block


@pytest.mark.parametrize("flag", sorted(FLAG_CASES))
def test_simulate_prints_config_first(flag: str, weights: Path, tmp_path: Path, energy_csv: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``eie simulate`` prints the resolved configuration first, with the flag's value, and the
    JSON result's configuration holds it too."""
    field, text, value = case(flag, energy_csv)
    out_json = tmp_path / "r.json"
    argv = ["simulate", "--weights", str(weights), "--act-density", "0.5", "--engine", "fast",
            "--json", str(out_json), flag, text]
    assert main(argv) == 0
    out = capsys.readouterr().out
    block = config_block(out)
    assert set(block) == {f.option for f in FIELDS}
    unit = FLAG[flag[2:].replace("-", "_")].shown_unit
    assert block[flag] == (f"{text} {unit}" if unit else text)
    assert json.loads(out_json.read_text())["config"][field] == value


@pytest.mark.parametrize("engine", ["fast", "simpy"])
def test_pes_reach_the_model(engine: str, weights: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """``--pes 8``: the JSON result's config and its per-PE lists have 8 entries."""
    out_json = tmp_path / "r.json"
    assert main(["simulate", "--weights", str(weights), "--act-density", "0.5", "--engine", engine,
                 "--pes", "8", "--fifo", "3", "--check", "--json", str(out_json)]) == 0
    assert config_block(capsys.readouterr().out)["--pes"] == "8"
    r = json.loads(out_json.read_text())
    assert r["engine"] == engine
    assert r["config"]["n_pes"] == 8 and r["config"]["queue_depth"] == 3 and r["config"]["check"] is True
    assert len(r["busy_cycles"]) == 8 and len(r["queue_occupancy_max"]) == 8
    assert len(r["layers"][0]["busy_cycles"]) == 8
    assert max(r["queue_occupancy_max"]) <= 3


def test_pes_reencode_a_stored_model(weights: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A .eie encoded for 64 PEs, simulated with ``--pes 4``, is re-encoded (and says so)."""
    model = tmp_path / "w.eie"
    assert main(["compress", str(weights), "--density", "0.3", "-o", str(model)]) == 0
    capsys.readouterr()
    out_json = tmp_path / "r.json"
    assert main(["simulate", str(model), "--act-density", "0.5", "--engine", "fast", "--pes", "4",
                 "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert "re-encoded for N=4" in captured.err
    r = json.loads(out_json.read_text())
    assert r["config"]["n_pes"] == 4 and len(r["busy_cycles"]) == 4
    assert any("re-encoded for N=4" in w for w in r["warnings"])


# ----------------------------------------------------------------------------- compress, inspect


SIZE_TABLE_HEADER = re.compile(r"weights\s+density\s+w bits P\+Q")


def test_compress_npy_and_inspect(weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.eie"
    assert main(["compress", str(weights), "--density", "0.25", "--pes", "8", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert SIZE_TABLE_HEADER.search(printed) and "total" in printed
    assert out.is_file() and f"wrote {out}" in printed and "encoded for 8 PEs" in printed

    before = out.read_bytes()
    assert main(["compress", str(weights), "--density", "0.5", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--force" in err
    assert out.read_bytes() == before  # refused: the file is untouched
    assert main(["compress", str(weights), "--density", "0.5", "-o", str(out), "--force"]) == 0
    capsys.readouterr()
    assert out.read_bytes() != before

    assert main(["inspect", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{out}: 1 layer(s)")
    assert "40 -> 24" in printed and "N=64" in printed
    assert SIZE_TABLE_HEADER.search(printed)


def test_compress_npz_model_and_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    npz = tmp_path / "fc.npz"
    np.savez(npz, fc1=rng.normal(size=(16, 30)).astype(np.float32), b1=rng.normal(size=16).astype(np.float32),
             fc2=rng.normal(size=(5, 16)).astype(np.float32), b2=rng.normal(size=5).astype(np.float32))
    out = tmp_path / "fc.eie"
    assert main(["compress", str(npz), "--layer", "fc1,fc2", "--bias", "b1,b2", "--density", "0.5",
                 "--calibration", str(_calibration(tmp_path, rng)), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert SIZE_TABLE_HEADER.search(printed)
    assert "fc1" in printed and "fc2" in printed and "2 layer(s)" in printed
    assert main(["compress", str(npz), "--layer", "fc1,fc2", "--bias", "b1,b2", "-o", str(out)]) == 2
    capsys.readouterr()

    assert main(["inspect", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 layer(s)" in printed and "30 -> 16 + bias" in printed and "16 -> 5 + bias" in printed
    assert "activation format Q" in printed  # calibrated
    assert SIZE_TABLE_HEADER.search(printed)


def _calibration(tmp_path: Path, rng: np.random.Generator) -> Path:
    path = tmp_path / "acts.npy"
    np.save(path, np.abs(rng.normal(size=(8, 30))))
    return path


def test_inspect_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "none.eie")]) == 2
    assert "none.eie" in capsys.readouterr().err
