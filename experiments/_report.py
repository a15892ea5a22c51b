"""Small helpers the experiment scripts share: result rows (JSON and markdown), tables, the output folder,
the command line.

Every experiment collects what it compares with the literature in a :class:`Results`: one row per
quantity or claim, with the published value, distlaw's value, the tolerance and the verdict. The
rows are written as ``OUT/NAME.json`` and the markdown comparison tables are drawn from the same
rows, so the report a person reads and the file a program reads cannot disagree.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The keys every row of OUT/NAME.json has (rows may carry more: difference, note, section, ...).
KEYS = ("quantity", "published", "distlaw", "tolerance", "reproduced")


def arguments(description: str, jobs: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI (under a minute)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"), help="output folder")
    if jobs:  # run_all.py alone
        parser.add_argument("--jobs", type=int, default=1,
                            help="scripts run side by side (default 1: each script's time is its own)")
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


def plain(value):
    """``value`` as JSON can hold it: numpy scalars and arrays as Python numbers and lists, NaN and
    infinities as None (JSON has no such numbers; null reads as 'no number here')."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


@dataclass
class Row:
    """One compared quantity: ``record`` is its JSON object; ``fmt`` and ``shown`` only say how its
    markdown cells read (a format spec for numbers, for all fields or per field; a field's text)."""

    record: dict
    fmt: str | dict[str, str] = ".4g"
    shown: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str):
        return self.record.get(key)

    def cell(self, key: str) -> str:
        """The markdown text of field ``key``: numbers formatted, None empty, strings as they are."""
        if key in self.shown:
            return self.shown[key]
        value = self.record.get(key)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, (int, float)):
            spec = self.fmt if isinstance(self.fmt, str) else self.fmt.get(key, ".4g")
            return format(value, spec)
        return str(value)

    def verdict(self, na: str = "{}") -> str:
        """'reproduced' or '**not reproduced**' against a published target. Without one (reproduced
        None): 'holds'/'**fails**' for a property check (a ``holds`` field), else the row's note; ``na``
        wraps those, e.g. ``"n/a ({})"``."""
        reproduced = self.record["reproduced"]
        if reproduced is not None:
            return verdict(reproduced)
        if "holds" in self.record:
            return na.format("holds" if self.record["holds"] else "**fails**")
        note = self.record.get("note")
        return na.format(note) if note else ""


# A markdown column: its header and the field it shows, or a function of the row giving the text.
Column = tuple[str, str | Callable[[Row], str]]


class Results:
    """The rows of one experiment, in the order they were added; ``begin`` names the section (the
    report's ``###`` heading) that the rows added after it belong to."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.current: str | None = None

    def begin(self, section: str) -> str:
        """Start a section; returns its markdown heading."""
        self.current = section
        return f"### {section}"

    def add(self, quantity: str, published, distlaw, tolerance, reproduced: bool | None, *,
            fmt: str | dict[str, str] = ".4g", shown: dict[str, str] | None = None, **extra) -> Row:
        """Record one row. ``reproduced`` is None where there is no published target (an observation,
        a property check: give it ``holds=``); ``extra`` fields (difference, note, ...) go to the JSON too."""
        record = {"quantity": quantity, "published": plain(published), "distlaw": plain(distlaw),
                  "tolerance": plain(tolerance), "reproduced": None if reproduced is None else bool(reproduced)}
        if self.current is not None:
            record["section"] = self.current
        record.update({key: plain(value) for key, value in extra.items()})
        row = Row(record, fmt, shown or {})
        self.rows.append(row)
        return row

    def write(self, out: str | Path, name: str) -> Path:
        """Write ``OUT/NAME.json``: a list of the rows' objects (strict JSON: no NaN, no infinities)."""
        path = Path(out, f"{name}.json")
        with path.open("w") as handle:
            json.dump([row.record for row in self.rows], handle, indent=1, allow_nan=False)
            handle.write("\n")
        return path


def rows_table(columns: Sequence[Column], rows: Sequence[Row]) -> str:
    """A markdown table of ``rows``, one column per (header, field or function)."""

    def text(row: Row, what) -> str:
        return what(row) if callable(what) else row.cell(what)

    return table([header for header, _ in columns], [[text(row, what) for _, what in columns] for row in rows])


def write_report(out: str, name: str, lines: list[str], results: Results | None = None) -> None:
    """Write ``OUT/NAME.md`` (the runner assembles the README from these) and, given the rows,
    ``OUT/NAME.json``; echo the markdown."""
    text = "\n".join(lines)
    Path(out, f"{name}.md").write_text(text)
    if results is not None:
        results.write(out, name)
    print(text)
