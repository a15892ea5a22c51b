"""distlaw's version (read by pyproject.toml and written into every FIT.json and atlas file)."""

__version__ = "0.1.0"
