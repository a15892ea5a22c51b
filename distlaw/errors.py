"""What distlaw raises when the user's input is wrong, and what the CLI does with it.

Every class derives from :class:`DistlawError` (itself a ``ValueError``, so ``except
ValueError`` keeps working) and carries one line naming the file, key, column, row or option
at fault. ``distlaw`` turns a :class:`DistlawError` (or an ``OSError``: a path that cannot be
read or written) into that line on stderr and exit code 2; any other exception is a bug in
distlaw (exit code 1, ``--debug`` for the traceback).

    DistlawError
     +-- InputError       a run table, a dataset name, an option or argument
     |    +-- RunTableError   (distlaw.runs) a run table's file, column or row
     +-- FitFileError     a FIT.json (or a starts file) that cannot be used
     +-- SweepError       a sweep file (TOML) or Sweep
     +-- AtlasError       a folder that is not a finished atlas
     +-- InfeasibleError  a request no allocation can meet (a teacher at or below E, ...)
"""

from __future__ import annotations


class DistlawError(ValueError):
    """A mistake in what the user gave distlaw (exit code 2 from the CLI)."""


class InputError(DistlawError):
    """A bad run table, dataset name, option or argument."""


class FitFileError(DistlawError):
    """A fit file (FIT.json) or starts file that is missing keys, malformed or of the wrong law."""


class SweepError(DistlawError):
    """A sweep definition that cannot be run; the message names the file and key."""


class AtlasError(DistlawError):
    """A folder that is not a finished atlas, or lacks the table asked for."""


class InfeasibleError(DistlawError):
    """A planning request that no allocation can meet."""
