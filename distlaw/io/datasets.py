"""Public run tables shipped with distlaw, with their licences and provenance.

Three published sets of language-model training runs come inside the package (in
``distlaw/data/``), byte-for-byte as derived from the authors' public repositories; see
``distlaw/data/SOURCES.md`` for how each table was made and checked. Usage::

    from distlaw import datasets

    datasets.list_datasets()
    # ['muennighoff2023', 'gadre2024', 'porian2024', 'porian2024_fits']

    runs = datasets.load("muennighoff2023")      # a pandas DataFrame
    runs.attrs["provenance"]["paper"]            # where the numbers come from
    runs.attrs["licence"]["spdx"]                # 'Apache-2.0'
    fit_set = runs[runs.in_fitset_182]           # the 182 runs the authors fitted

    datasets.path("gadre2024")                   # pathlib.Path of the CSV (e.g. for the CLI)
    print(datasets.licence_text("porian2024"))   # the source repository's licence file

The run tables (``muennighoff2023``, ``gadre2024``, ``porian2024``) all have the columns
``params``, ``tokens`` and ``loss`` (raw units, loss in nats per token) plus provenance
columns; ``porian2024_fits`` is the table of compute-optimal exponents the Porian et al.
repository reports. Each table keeps the licence of its source: whoever redistributes one
keeps its licence file and names its source beside it.

This module needs only numpy and pandas.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ..errors import InputError

__all__ = ["DATASETS", "Dataset", "licence_text", "list_datasets", "load", "path"]


class Dataset(NamedTuple):
    """One shipped table: where it lies in ``distlaw/data`` and where it comes from."""

    name: str
    file: str  # relative to distlaw/data
    paper: str
    repository: str
    commit: str
    licence: str  # SPDX identifier
    licence_file: str  # relative to distlaw/data
    description: str
    sha256: str  # of the shipped file, as derived (see SOURCES.md)


_MUENNIGHOFF = {
    "paper": "Muennighoff et al., Scaling Data-Constrained Language Models, arXiv:2305.16264 (NeurIPS 2023)",
    "repository": "https://github.com/huggingface/datablations",
    "commit": "13701315b163f1c54642b94ad237b2699187c3ee",
    "licence": "Apache-2.0",
    "licence_file": "licenses/muennighoff2023-LICENSE.txt",
}
_GADRE = {
    "paper": "Gadre et al., Language models scale reliably with over-training and on downstream tasks, "
    "arXiv:2403.08540 (2024)",
    "repository": "https://github.com/mlfoundations/scaling",
    "commit": "a003c4913793ac2ae7ef87b28ecb562955d026d5",
    "licence": "MIT",
    "licence_file": "licenses/gadre2024-LICENSE.txt",
}
_PORIAN = {
    "paper": "Porian et al., Resolving Discrepancies in Compute-Optimal Scaling of Language Models, "
    "arXiv:2406.19146 (NeurIPS 2024)",
    "repository": "https://github.com/formll/resolving-scaling-law-discrepancies",
    "commit": "0dc60d91b8a525858a3067fc9e4a46ff5374cc6f",
    "licence": "MIT",
    "licence_file": "licenses/porian2024-LICENSE.txt",
}

DATASETS: dict[str, Dataset] = {
    "muennighoff2023": Dataset(
        name="muennighoff2023",
        file="muennighoff2023/muennighoff2023_c4_runs.csv",
        description=(
            "296 C4 runs (final validation loss) from utils/parametric_fit.ipynb, with unique_tokens, "
            "epochs and the in_fitset_182 flag for the authors' 182-run fit set. Known issue, kept as "
            "published: run 4b284b12bc4opt2 is mis-decoded by the notebook's parser (tokens 84.1e9 on "
            "2.2e9 unique tokens, 4.2465e9 params; intended 84e9 on 12e9 unique, ~3.09e9 params); it is "
            "not in the 182-run set; drop or correct it before fitting all 296 runs. 82 rows are seed "
            "repeats sharing (params, tokens, unique_tokens)."
        ),
        **_MUENNIGHOFF,
        sha256="05ec9dbc4db5a0ac8a68ab121a8b807c9e3e381f3b62c0bd5043d09d905cecfc",
    ),
    "gadre2024": Dataset(
        name="gadre2024",
        file="gadre2024/gadre2024_runs.csv",
        description=(
            "104 open_lm runs on C4, RedPajama and RefinedWeb (exp_data/models/*.json) with eight "
            "validation losses (loss = loss_c4_val), downstream errors and flags for the published "
            "extrapolation check. The 7B runs' lr/wd/global_bs fields are unreliable."
        ),
        **_GADRE,
        sha256="88d5d1840be72077fb27828a8d3ae55230121e0a876058ba9b566515569d7051",
    ),
    "porian2024": Dataset(
        name="porian2024",
        file="porian2024/porian2024_isoflop_runs.csv",
        description=(
            "1745 isoFLOP points in 15 configurations (data/summary_df*.pickle.xz). Configurations that "
            "differ only in param_count/val re-read the same training runs with another N, FLOP count "
            "and loss: never pool them."
        ),
        **_PORIAN,
        sha256="9175de202bfd923d5dd6b65916d0c592fb76ea674fc75bb0fddafeafcaee1f27",
    ),
    "porian2024_fits": Dataset(
        name="porian2024_fits",
        file="porian2024/porian2024_reported_fits.csv",
        description=(
            "The compute-optimal exponent a (N* ~ C^a) reported for each of the 15 configurations, "
            "estimated from isoFLOP minima (Approach 2), not from a parametric L(N, D) fit."
        ),
        **_PORIAN,
        sha256="d63247bf61791f0726d5289b0194f62433e6b90b0adba1e19283495af18905a9",
    ),
}

RUN_COLUMNS = ("params", "tokens", "loss")


def list_datasets() -> list[str]:
    """The names of the shipped tables, in registry order."""
    return list(DATASETS)


def _entry(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None


def _data_file(relative: str) -> Path:
    # The package is installed as plain files (wheel or editable), so the resource is a real path.
    return Path(str(resources.files("distlaw").joinpath("data", *relative.split("/"))))


def path(name: str) -> Path:
    """The path of the CSV file of dataset ``name`` (usable wherever a run-table path is accepted).

    Raises ``ValueError`` for an unknown name.
    """
    return _data_file(_entry(name).file)


def licence_text(name: str) -> str:
    """The licence of the source repository of dataset ``name``, as shipped beside the table."""
    return _data_file(_entry(name).licence_file).read_text(encoding="utf-8")


def load(name: str) -> pd.DataFrame:
    """Read dataset ``name`` into a DataFrame, exactly as stored (nothing is dropped or corrected).

    ``frame.attrs["provenance"]`` holds ``paper``, ``repository``, ``commit``, ``file`` (the
    table's path inside ``distlaw/data``) and ``description``; ``frame.attrs["licence"]`` holds
    ``spdx`` and ``file`` (the licence file inside ``distlaw/data``). Raises ``ValueError`` for an
    unknown name, naming the choices.
    """
    entry = _entry(name)
    frame = pd.read_csv(path(name))
    frame.attrs["provenance"] = {
        "paper": entry.paper,
        "repository": entry.repository,
        "commit": entry.commit,
        "file": entry.file,
        "description": entry.description,
    }
    frame.attrs["licence"] = {"spdx": entry.licence, "file": entry.licence_file}
    return frame
