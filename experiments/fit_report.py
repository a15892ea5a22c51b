"""An example fit report, from the public API: the Chinchilla form fitted to Muennighoff et al.'s
shipped runs (delta 1e-3, 200 bootstrap resamples, runs above 2B parameters held out).

    python experiments/fit_report.py     # writes experiments/results/fit_report_muennighoff2023.{html,png,json}

The HTML page is self-contained (open it in any browser, offline); the PNG is its first figure,
shown in the README.
"""

from __future__ import annotations

from pathlib import Path

from distlaw import ScalingLaw
from distlaw.report import fit_report

RESULTS = Path(__file__).resolve().parent / "results"


def main(results: Path = RESULTS) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    fit = ScalingLaw("chinchilla", huber_delta=1e-3, seed=0).fit("muennighoff2023", bootstrap=200,
                                                                  holdout="params > 2e9")
    fit.save(results / "fit_report_muennighoff2023.json")
    report = fit_report(results / "fit_report_muennighoff2023.json", "muennighoff2023")
    report.to_html(results / "fit_report_muennighoff2023.html")
    report.figure("law").savefig(results / "fit_report_muennighoff2023.png", dpi=110, bbox_inches="tight")
    return results / "fit_report_muennighoff2023.html"


if __name__ == "__main__":
    print(f"wrote {main()}")
