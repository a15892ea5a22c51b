"""Files in and out: run tables, FIT.json, the shipped datasets, atomic writes, progress bars.

Modules:
  runs      read and validate run tables (CSV, Parquet, JSON Lines; files, folders, DataFrames,
            shipped dataset names), write result tables
  datasets  the real, public run tables shipped with distlaw, with licences and provenance
  fitfile   FIT.json: read (validated against the law catalog), write, presets
  files     atomic writes (a reader sees the old file or the new one)
  progress  progress bars on stderr (tqdm)
  values    lists of values as typed: ``3e8,1e9`` or a log-spaced range ``1e20:1e25:11``

May import: :mod:`distlaw.errors` and :mod:`distlaw.laws.catalog` (plain data). Nothing here
imports JAX.
"""
