"""What people look at: figures drawn from atlases (and, later, fit reports).

Modules:
  atlas_figures  loss contours, capacity-gap curves and the budget split, as matplotlib
                 ``Figure`` objects (never pyplot's global state or backend)

May import: everything below the CLI (errors, laws, io, fitting, planning, atlas).
"""
