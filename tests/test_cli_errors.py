"""The CLI on bad input: exit code 2, a message naming the file/field/value, no traceback.

One test per class of bad input, run in-process through ``eie_sim.study.cli.main``.
Internal errors (bugs) exit with 1 and say so; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from benchmarks.fuzz import flip_bits, time_limit
from compressor import eiefile
from eie_sim.config import FLAG
from eie_sim.config import RANGES as _RANGES
from eie_sim.study.cli import main
from tests.conftest import run

FAST = ("--engine", "fast")


def fails(capsys: pytest.CaptureFixture[str], *argv: str, expect: tuple[str, ...]) -> str:
    """Run ``argv``: exit 2, ``eie CMD: error:`` and every ``expect`` on stderr, no traceback."""
    rc, _, err = run(capsys, *argv)
    assert rc == 2, err
    assert err.startswith(f"eie {argv[0]}: error: "), err
    assert "Traceback" not in err
    for text in expect:
        assert text in err, err
    return err


def save(path: Path, arr: np.ndarray, **kw: object) -> str:
    np.save(path, arr, **kw)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A small weight matrix, its .eie model (inputs after a ReLU) and valid activations."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(3)
    w = save(d / "w.npy", rng.normal(0, 0.1, (8, 6)))
    model = d / "model.eie"
    assert main(["compress", w, "-o", str(model), "--pes", "4", "--regs", "2", "--after-relu"]) == 0
    return {"dir": str(d), "w": w, "model": str(model), "x": save(d / "x.npy", rng.random(6))}


# ----------------------------------------------------------------------------- weight files


@pytest.mark.parametrize(("label", "arr", "expect"), [
    ("nan", np.array([[0.1, np.nan], [0.2, 0.3]]), "1 non-finite value(s) (NaN or inf); the first is"),
    ("inf", np.array([[0.1, 0.2], [np.inf, 0.3]]), "the first is inf at index (1, 0)"),
    ("rank1", np.ones(5), "must be a 2-D (outputs x inputs) matrix, got shape (5,)"),
    ("rank3", np.ones((2, 3, 4)), "got shape (2, 3, 4)"),
    ("strings", np.array([["a", "b"]]), "weights must be real numbers, got dtype <U1"),
    ("empty", np.zeros((0, 4)), "weights are empty (shape (0, 4))"),
])
@pytest.mark.parametrize("command", ["compress", "simulate"])
def test_bad_weight_arrays(capsys: pytest.CaptureFixture[str], tmp_path: Path, label: str, arr: np.ndarray,
                           expect: str, command: str) -> None:
    w = save(tmp_path / f"{label}.npy", arr)
    argv = (["compress", w, "-o", str(tmp_path / "o.eie")] if command == "compress"
            else ["simulate", "--weights", w, *FAST])
    fails(capsys, *argv, expect=(w, expect))
    assert not (tmp_path / "o.eie").exists()


def test_object_array_is_refused_without_unpickling(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    w = save(tmp_path / "obj.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    fails(capsys, "compress", w, "-o", str(tmp_path / "o.eie"),
          expect=(w, "not a readable .npy array", "allow_pickle=False"))


def test_pickle_named_npy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    w = tmp_path / "w.npy"
    w.write_bytes(pickle.dumps({"weights": [[1.0, 2.0]]}))
    fails(capsys, "compress", str(w), "-o", str(tmp_path / "o.eie"),
          expect=(str(w), "not a readable .npy array", "pickled (object) data"))


def test_missing_array_in_npz_lists_the_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", fc6=np.ones((4, 3)), fc7=np.ones((2, 4)))
    fails(capsys, "compress", str(tmp_path / "m.npz"), "--layer", "fc9", "-o", str(tmp_path / "o.eie"),
          expect=("no array named 'fc9'; it holds fc6, fc7",))


def test_layers_that_do_not_chain(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", a=np.full((4, 6), 0.5), b=np.full((5, 3), 0.5))
    fails(capsys, "compress", str(tmp_path / "m.npz"), "--layer", "a,b", "-o", str(tmp_path / "o.eie"),
          expect=("m.npz: layer b (5 x 3) takes 3 inputs", "a, has 4 outputs", "shapes must chain"))


# ----------------------------------------------------------------------------- activations


def test_activations_of_the_wrong_length(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                         tmp_path: Path) -> None:
    x = save(tmp_path / "x.npy", np.ones(5))
    fails(capsys, "simulate", files["model"], "--activations", x, *FAST,
          expect=("x.npy: each input has 5 values; the model takes 6",))


def test_activations_with_nan(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                              tmp_path: Path) -> None:
    x = save(tmp_path / "x.npy", np.array([0.1, 0.2, np.nan, 0.3, 0.4, 0.5]))
    fails(capsys, "simulate", files["model"], "--activations", x, *FAST,
          expect=("x.npy: 1 NaN or inf value(s), the first at input 0, index 2",))


def test_negative_activations_after_relu_warn(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                              tmp_path: Path) -> None:
    """The CLI reports the oddity once, as a note, not as a Python warning as well."""
    x = save(tmp_path / "x.npy", np.array([0.1, -0.2, 0.3, -0.4, 0.5, 0.6]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Python warning escaping the CLI fails the test
        rc, _, err = run(capsys, "simulate", files["model"], "--activations", x, *FAST)
    assert rc == 0, err
    assert err.count("2 activation(s) are negative") == 1
    assert "note: 2 activation(s) are negative, but the first layer follows a ReLU" in err
    assert "Traceback" not in err and "EieWarning" not in err


# ----------------------------------------------------------------------------- configuration

# flag -> a value outside its field's range (in the flag's unit)
BAD_FLAG_VALUES = {
    "pes": "0", "fifo": "4097", "broadcast_latency": "0", "ptr_banks": "3", "acc_latency": "0",
    "regs": "0", "spmat_kb": "0", "word_bits": "12", "ptr_kb": "0",
    "ptr_bits": "49", "act_kb": "-1", "acc_bits": "8", "clock_mhz": "0.5", "dram_bw": "0",
    "dram_latency": "-1", "dram_pj_per_bit": "-1", "max_cycles": "0",
}


@pytest.mark.parametrize("flag", sorted(BAD_FLAG_VALUES))
def test_config_flag_out_of_range(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                  flag: str) -> None:
    f = FLAG[flag]
    _, lo, hi = _RANGES[f.name]
    if f.flag_unit is None:  # the field's own unit: the field's message
        expect = (f"{f.name} = ", "multiple of 8" if flag == "word_bits" else f"{lo:g}..{hi:g}")
    else:  # a flag in another unit (KB, MHz) answers in that unit
        expect = (f"--{flag.replace('_', '-')} {BAD_FLAG_VALUES[flag]}: must be",
                  f"{lo / f.scale:g}..{hi / f.scale:g} {f.flag_unit}")
    fails(capsys, "simulate", files["model"], f"--{flag.replace('_', '-')}", BAD_FLAG_VALUES[flag], *FAST,
          expect=expect)


@pytest.mark.parametrize("argv, message", [
    (("--clock-mhz", "0"), "--clock-mhz 0: must be a number in 1..100000 MHz"),
    (("--spmat-kb", "20000000"), "--spmat-kb 20000000: must be a number in 0.000976562..1.67772e+07 KB"),
])
def test_flag_errors_speak_the_flags_unit(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                          argv: tuple[str, str], message: str) -> None:
    """The user typed MHz and KB: the range comes back in MHz and KB, not the fields' Hz and bytes."""
    err = fails(capsys, "simulate", files["model"], *argv, *FAST, expect=(message,))
    assert " Hz" not in err and "bytes" not in err


def test_every_config_flag_is_covered() -> None:
    """Every flag with a range has an out-of-range case (on/off and choice flags have no range to
    leave)."""
    switches = {name for name, f in FLAG.items() if f.kind is bool or f.choices}
    assert set(BAD_FLAG_VALUES) | {"energy_table"} | switches == set(FLAG)


def test_energy_table_flag_must_exist(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    fails(capsys, "simulate", files["model"], "--energy-table", "/no/such.csv", *FAST,
          expect=("energy_table = '/no/such.csv' must be the path of an existing CSV file",))


def test_flag_that_is_not_a_number(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    fails(capsys, "simulate", files["model"], "--pes", "four", *FAST,
          expect=("--pes 'four': not a valid (finite) number",))


def test_infinite_sram_size_flag(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    fails(capsys, "simulate", files["model"], "--spmat-kb", "inf", *FAST,
          expect=("--spmat-kb 'inf': not a valid (finite) number",))


@pytest.mark.parametrize("field", sorted(_RANGES))
def test_config_toml_out_of_range(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                  tmp_path: Path, field: str) -> None:
    typ, lo, hi = _RANGES[field]
    raw = repr(float(hi * 2)) if typ is float else str(int(hi) + 1)
    toml = tmp_path / "arch.toml"
    toml.write_text(f"{field} = {raw}\n")
    fails(capsys, "simulate", files["model"], "--config", str(toml), *FAST,
          expect=(str(toml), f"{field} = ", f"{lo:g}..{hi:g}"))


def test_config_toml_unknown_key(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                 tmp_path: Path) -> None:
    toml = tmp_path / "arch.toml"
    toml.write_text("n_pes = 4\nn_pe = 8\n")
    fails(capsys, "simulate", files["model"], "--config", str(toml), *FAST,
          expect=(str(toml), "unknown key 'n_pe' (did you mean 'n_pes'?)", "pes, clock_mhz, fifo"))


def test_config_toml_wrong_type(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                tmp_path: Path) -> None:
    toml = tmp_path / "arch.toml"
    toml.write_text('n_pes = "64"\n')
    fails(capsys, "simulate", files["model"], "--config", str(toml), *FAST,
          expect=(str(toml), "n_pes = '64' must be an integer in 1..4096"))


def test_config_toml_not_toml(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                              tmp_path: Path) -> None:
    toml = tmp_path / "arch.toml"
    toml.write_bytes(b"n_pes = [4\n")
    fails(capsys, "simulate", files["model"], "--config", str(toml), *FAST,
          expect=(str(toml), "not valid TOML"))


def test_column_too_large_for_half_the_sram(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A dense column cannot be tiled into 10 bytes of SRAM: a clear error, not an endless loop."""
    w = save(tmp_path / "dense.npy", np.full((16, 4), 0.25))
    with time_limit(120):
        fails(capsys, "simulate", "--weights", w, "--pes", "4", "--spmat-kb", "0.009765625", *FAST,
              expect=("column 0 of round 0 needs", "more than half of the 10-byte sparse-matrix SRAM",
                      "use a larger SRAM or more PEs"))


def test_more_pes_than_rows_is_valid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    w = save(tmp_path / "w.npy", np.full((3, 5), 0.25))
    rc, out, err = run(capsys, "simulate", "--weights", w, "--pes", "8", *FAST)
    assert rc == 0, err
    assert "--pes                  8" in out


# ----------------------------------------------------------------------------- damaged .eie files


@pytest.mark.parametrize("command", ["inspect", "simulate"])
def test_truncated_eie(capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path,
                       command: str) -> None:
    data = Path(files["model"]).read_bytes()
    bad = tmp_path / "cut.eie"
    bad.write_bytes(data[: len(data) - 7])
    argv = [command, str(bad), *(FAST if command == "simulate" else ())]
    fails(capsys, *argv, expect=(str(bad), "run past the end", "truncated"))


@pytest.mark.parametrize("command", ["inspect", "simulate"])
def test_bit_flipped_eie(capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path,
                         command: str) -> None:
    data = Path(files["model"]).read_bytes()
    bad = tmp_path / "flip.eie"
    bad.write_bytes(flip_bits(data, [8 * (len(data) - 3) + 2]))  # in the last section
    argv = [command, str(bad), *(FAST if command == "simulate" else ())]
    fails(capsys, *argv, expect=(str(bad), "section 'huff_z_payload'", "checksum mismatch"))


def test_not_an_eie_file(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    fails(capsys, "inspect", files["w"], expect=(files["w"], "bad magic bytes: not a .eie file"))


def test_missing_eie_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fails(capsys, "inspect", str(tmp_path / "nope.eie"), expect=("nope.eie: no such file",))


# ----------------------------------------------------------------------------- outputs


def test_existing_output_needs_force(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                     tmp_path: Path) -> None:
    out = tmp_path / "o.eie"
    out.write_bytes(b"precious")
    fails(capsys, "compress", files["w"], "-o", str(out),
          expect=(str(out), "already exists; pass --force"))
    assert out.read_bytes() == b"precious"
    rc, _, err = run(capsys, "compress", files["w"], "-o", str(out), "--force")
    assert rc == 0, err
    assert eiefile.load(out).layers[0].m == 8


def test_existing_json_needs_force(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                   tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.write_text("{}")
    fails(capsys, "simulate", files["model"], "--json", str(out), *FAST, expect=(str(out), "--force"))
    assert out.read_text() == "{}"


# ----------------------------------------------------------------------------- internal errors


def test_internal_error_exits_1(capsys: pytest.CaptureFixture[str], files: dict[str, str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(path: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(eiefile, "load", boom)  # cmd_inspect imports the module when it runs
    rc, _, err = run(capsys, "inspect", files["model"])
    assert rc == 1
    assert "eie inspect: internal error: RuntimeError: boom" in err and "--debug" in err
    assert "Traceback" not in err
    rc, _, err = run(capsys, "--debug", "inspect", files["model"])
    assert rc == 1
    assert "Traceback" in err and 'raise RuntimeError("boom")' in err


def test_debug_shows_traceback_of_input_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = run(capsys, "--debug", "inspect", str(tmp_path / "nope.eie"))
    assert rc == 2
    assert "Traceback" in err and "EieFormatError" in err
