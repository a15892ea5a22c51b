"""Progress bars for long work (fits, bootstraps, atlases): tqdm, on stderr, only on a terminal."""

from __future__ import annotations

from collections.abc import Callable


def progress_callback(label: str, unit: str, enabled: bool | None = None) -> Callable[[int, int], None] | None:
    """A ``report(done, total)`` callback drawing a tqdm bar, or None when it would not show.

    ``enabled``: True forces the bar, False hides it, None shows it only when stderr is a
    terminal (tqdm's own test), so logs and pipes get no carriage-return noise. The bar closes
    itself when ``done`` reaches ``total``.
    """
    import sys

    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    bar = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if bar is None or (bar.n >= bar.total and done < total):  # a new stage (a large fit's polish)
            bar = tqdm(total=total, desc=label, unit=unit, unit_scale=True, dynamic_ncols=True, leave=True)
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return report
