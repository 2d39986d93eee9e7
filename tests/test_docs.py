"""The documentation states what the code declares."""

from __future__ import annotations

import re
from pathlib import Path

from eie_sim.config import FIELDS, config_reference
from eie_sim.counts import known_events

ARCH = (Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md").read_text()


def test_the_configuration_reference_is_the_fields_declarations() -> None:
    table = re.search(r"<!-- config-reference:[^\n]*-->\n(.*?)<!-- end config-reference -->", ARCH, re.S)
    assert table, "docs/ARCHITECTURE.md has no generated configuration reference"
    assert table[1] == config_reference(), (
        "the configuration reference is out of date: paste eie_sim.config.config_reference()")
    assert all(f"`{f.name}`" in table[1] for f in FIELDS)


def test_every_energy_event_is_named_in_section_6() -> None:
    section = ARCH.split("## 6. Energy and area")[1].split("## 7.")[0]
    for unit, action in known_events():
        assert f"`{unit}.{action}`" in section or f"`.{action}`" in section or (
            action == "cycle" and f"`{unit}`" in section), (unit, action)
