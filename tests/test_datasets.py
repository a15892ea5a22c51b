"""The shipped public run tables: they load, match SOURCES.md, and carry licences and provenance."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from distlaw import datasets

ROWS = {"muennighoff2023": 296, "gadre2024": 104, "porian2024": 1745, "porian2024_fits": 15}
RUN_TABLES = ["muennighoff2023", "gadre2024", "porian2024"]
# The folder the tables were copied from (beside the checkout); absent in an installed package.
SOURCE = Path(os.environ.get("DISTLAW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_names():
    assert datasets.list_datasets() == list(ROWS)
    assert set(datasets.DATASETS) == set(ROWS)


@pytest.mark.parametrize("name", list(ROWS))
def test_loads_with_documented_rows_and_provenance(name):
    frame = datasets.load(name)
    assert len(frame) == ROWS[name]
    entry = datasets.DATASETS[name]
    provenance = frame.attrs["provenance"]
    assert provenance["paper"] == entry.paper and "arXiv:" in provenance["paper"]
    assert provenance["repository"].startswith("https://github.com/")
    assert len(provenance["commit"]) == 40 and provenance["file"] == entry.file
    assert provenance["description"]
    assert frame.attrs["licence"] == {"spdx": entry.licence, "file": entry.licence_file}
    assert datasets.path(name).is_file() and datasets.path(name).suffix == ".csv"


@pytest.mark.parametrize("name", RUN_TABLES)
def test_run_tables_have_positive_params_tokens_loss(name):
    frame = datasets.load(name)
    for column in ("params", "tokens", "loss"):
        values = frame[column].to_numpy(dtype=float)
        assert np.all(np.isfinite(values)) and np.all(values > 0), column


@pytest.mark.parametrize("name", list(ROWS))
def test_shipped_copy_matches_its_recorded_checksum(name):
    """The registry's sha256 was taken from the shipped copies after checking them byte for byte
    against the shared source tables (2026-11-28); a modified copy fails here, on any clone."""
    assert hashlib.sha256(datasets.path(name).read_bytes()).hexdigest() == datasets.DATASETS[name].sha256


@pytest.mark.parametrize("name", list(ROWS))
def test_shipped_copy_is_byte_identical_to_the_shared_source_where_present(name):
    """Where the shared source folder exists (the team's machines), compare with it directly."""
    source = SOURCE / datasets.DATASETS[name].file
    if source.is_file():
        assert datasets.path(name).read_bytes() == source.read_bytes()


def test_muennighoff_fit_set_and_known_misdecoded_run_kept():
    frame = datasets.load("muennighoff2023")
    assert int(frame.in_fitset_182.sum()) == 182
    odd = frame[frame.run_name == "4b284b12bc4opt2"]
    assert len(odd) == 1 and not odd.in_fitset_182.item()  # kept as published, outside the fit set
    assert "4b284b12bc4opt2" in datasets.DATASETS["muennighoff2023"].description


@pytest.mark.parametrize("name", list(ROWS))
def test_licences(name):
    text = datasets.licence_text(name)
    spdx = datasets.DATASETS[name].licence
    assert text.strip()
    if spdx == "Apache-2.0":
        assert "Apache License" in text and "Version 2.0" in text
    else:
        assert spdx == "MIT"
        # The MIT grant (porian2024's file has the MIT text but never the word "MIT").
        assert "Permission is hereby granted, free of charge" in text


def test_sources_ship_with_the_tables():
    sources = datasets.path("gadre2024").parents[1] / "SOURCES.md"
    assert "No numbers were typed by hand" in sources.read_text(encoding="utf-8")


@pytest.mark.parametrize("call", [datasets.load, datasets.path, datasets.licence_text])
def test_unknown_name_names_the_choices(call):
    with pytest.raises(ValueError) as error:
        call("chinchilla2022")
    for name in ROWS:
        assert name in str(error.value)
