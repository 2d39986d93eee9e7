"""Reading the package's CSV data files (and users' replacements): header checks, and numbers
checked against a range, every error naming the file, line, row and field."""

from __future__ import annotations

import csv
import functools
import io
import math
from importlib import resources

from compressor.errors import EieFormatError


@functools.cache
def packaged_text(name: str) -> tuple[str, str]:
    """(label, text) of a data file shipped in ``eie_sim/data``, read as UTF-8 (a BOM dropped)."""
    res = resources.files("eie_sim").joinpath("data", name)
    return str(res), res.read_text(encoding="utf-8-sig")


def parse_csv(label: str, text: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV text as (line number, {column: stripped text}); checks the header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise EieFormatError(f"{label}: missing column(s) {', '.join(map(repr, missing))}; "
                                 f"expected the columns {','.join(columns)}")
        if len(set(header)) != len(header):
            raise EieFormatError(f"{label}: a column name appears twice in the header {header}")
        for rec in reader:
            if not any(f.strip() for f in rec):
                continue  # blank line
            if len(rec) > len(header):
                raise EieFormatError(f"{label}: line {reader.line_num} has {len(rec)} fields, "
                                     f"more than the header's {len(header)}")
            rec = rec + [""] * (len(header) - len(rec))
            rows.append((reader.line_num, {h: v.strip() for h, v in zip(header, rec, strict=True)}))
    except csv.Error as e:
        raise EieFormatError(f"{label}: not a valid CSV file: {e}") from None
    return rows


def number(label: str, line: int, row: str, field: str, text: str, *, lo: float = 0.0,
            hi: float = math.inf, positive: bool = False) -> float:
    """A finite number in [lo, hi] (> lo when ``positive``), or an error naming file, row and field."""
    where = f"{label}: line {line} (row '{row}'), field '{field}'"
    if not text:
        raise EieFormatError(f"{where} is empty; it must be a number")
    try:
        v = float(text)
    except ValueError:
        raise EieFormatError(f"{where} = {text!r} is not a number") from None
    if not math.isfinite(v):
        raise EieFormatError(f"{where} = {text!r} must be finite")
    if v < lo or v > hi or (positive and v <= lo):
        if lo == 0.0 and v < 0:
            raise EieFormatError(f"{where} = {v:g} is negative; energies, powers and areas are >= 0")
        rng = f"> {lo:g}" if positive else f"in {lo:g}..{hi:g}"
        raise EieFormatError(f"{where} = {v:g} must be {rng}")
    return v
