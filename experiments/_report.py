"""Small helpers the experiment scripts share: markdown tables, the output folder, the command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI (under a minute)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"), help="output folder")
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return args


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats printed with 4 significant digits unless already strings."""

    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "reproduced" if ok else "**not reproduced**"


def write_report(out: str, name: str, lines: list[str]) -> None:
    """Write ``OUT/NAME.md`` (the runner assembles the README from these) and echo it."""
    text = "\n".join(lines)
    Path(out, f"{name}.md").write_text(text)
    print(text)
