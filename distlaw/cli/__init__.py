"""The ``distlaw`` command line: parse, call one library function, print, pick the exit code.

Modules:
  commands  one ``cmd_*`` per subcommand, the printing, ``main`` and the console script ``run``
  parser    the argument parser, its choices, defaults and help drawn from the law catalog
  runtime   the JAX settings a command runs under (the compilation cache), restored afterwards

May import: anything in distlaw (it is the top). Imports no JAX or NumPy at module level, so
``distlaw --help`` is instant.
"""

from .commands import main, run

__all__ = ["main", "run"]
