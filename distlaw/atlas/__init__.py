"""Atlases: a fitted law evaluated over dense grids, written as partitioned Parquet, read back.

Modules:
  sweep     sweep files (TOML): the grids, the law, the compute model; parsed and checked once
  evaluate  pure JAX evaluation: per-partition tables, then rows by chunk (sharded over devices)
  write     the only module that talks to pyarrow for atlases: schemas, encodings, files,
            manifests, resume checks
  folder    ``build_atlas()`` and ``Atlas``: write a sweep's atlas, read a finished folder
  lookup    ``AtlasLookup``: interpolated lookups between grid points

May import: :mod:`distlaw.errors`, :mod:`distlaw.laws`, :mod:`distlaw.io`, :mod:`distlaw.planning`,
:mod:`distlaw.fitting` (its store of compiled programs).
"""

from .evaluate import flops_column, loss_chunk, loss_columns, loss_tables, numpy_loss_rows
from .folder import Atlas, build_atlas
from .lookup import AtlasLookup

__all__ = ["Atlas", "AtlasLookup", "build_atlas", "flops_column", "loss_chunk", "loss_columns", "loss_tables",
           "numpy_loss_rows"]
