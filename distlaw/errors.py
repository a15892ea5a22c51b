"""What distlaw raises when the user's input is wrong, and what the CLI does with it.

Every class derives from :class:`DistlawError` (itself a ``ValueError``, so ``except
ValueError`` keeps working) and carries one line naming the file, key, column, row or option
at fault (arguments spelled as the Python API spells them; ``argument`` says which). ``distlaw`` turns a :class:`DistlawError` (or an ``OSError``: a path that cannot be
read or written) into that line on stderr and exit code 2; any other exception is a bug in
distlaw (exit code 1, ``--debug`` for the traceback).

    DistlawError
     +-- InputError       a run table, a dataset name, an option or argument
     |    +-- RunTableError   (distlaw.io.runs) a run table's file, column or row
     +-- FitFileError     a FIT.json (or a starts file) that cannot be used
     +-- FitError         a fit the data cannot give (every start failed)
     +-- SweepError       a sweep file (TOML) or Sweep
     +-- AtlasError       a folder that is not a finished atlas
     +-- InfeasibleError  a request no allocation can meet (a teacher at or below E, ...)
"""

from __future__ import annotations

__all__ = ["AtlasError", "DistlawError", "FitError", "FitFileError", "InfeasibleError", "InputError", "RunTableError", "SweepError"]


class DistlawError(ValueError):
    """A mistake in what the user gave distlaw (exit code 2 from the CLI).

    ``argument`` names the function argument at fault the way the Python API spells it
    (``teacher_loss``); the message then starts with that name, and the CLI shows its own flag
    (``--teacher-loss``) in its place, so both read naturally and say the same thing.
    """

    def __init__(self, message: str, *, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


class InputError(DistlawError):
    """A bad run table, dataset name, option or argument."""


class RunTableError(InputError):
    """A run table that cannot be read, or holds a value the laws cannot use (names file, column, row)."""


class FitFileError(DistlawError):
    """A fit file (FIT.json) or starts file that is missing keys, malformed or of the wrong law."""


class FitError(DistlawError):
    """A fit that cannot be made from the data given (every start failed: the objective is not
    finite anywhere tried)."""


class SweepError(DistlawError):
    """A sweep definition that cannot be run; the message names the file and key."""


class AtlasError(DistlawError):
    """A folder that is not a finished atlas, or lacks the table asked for."""


class InfeasibleError(DistlawError):
    """A planning request that no allocation can meet."""
