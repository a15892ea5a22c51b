"""The fit report (issue 20): rendered in headless Chromium, figures, coefficients, no network.

Chromium is the Debian package ``chromium``; the ``chromium`` fixture installs it with apt-get
when it is missing and this runs as root (as CI does), and skips (saying why) otherwise.
"""

import html.parser
import json
import os
import shutil
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from distlaw import ScalingLaw
from distlaw.report import fit_report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-extensions"]
# Hosts Chromium itself contacts in the background, whatever the page (seen in a blank page's log).
BROWSER_HOST_SUFFIXES = ("google.com", "gvt1.com", "googleapis.com", "gstatic.com")


@pytest.fixture(scope="session")
def chromium():
    path = shutil.which("chromium")
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=900)
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("needs the Debian package chromium (apt-get install chromium; installed automatically as root)")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    fit = ScalingLaw("chinchilla", huber_delta=1e-3).fit("muennighoff2023", bootstrap=30, holdout="params > 2e9")
    fit.save(folder / "fit.json")
    built = fit_report(folder / "fit.json", "muennighoff2023")
    built.to_html(folder / "report.html")
    return built, folder


def _render(chromium, page, netlog):
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--log-net-log={netlog}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _requested_hosts(netlog) -> set[str]:
    text = netlog.read_text(errors="replace").rstrip()
    try:
        events = json.loads(text)
    except json.JSONDecodeError:  # a log Chromium did not close: end its event list
        events = json.loads(text.rstrip(",") + "]}")
    urls = set()
    for event in events.get("events", []):
        url = (event.get("params") or {}).get("url")
        if url and urlparse(url).scheme in ("http", "https", "ws", "wss", "ftp"):
            urls.add(urlparse(url).hostname)
    return urls


class _Figures(html.parser.HTMLParser):
    """Figures (with an svg and a caption), and the coefficient table's cells."""

    def __init__(self):
        super().__init__()
        self.figures, self.stack, self.cells, self.in_table, self.text = [], [], [], False, []

    def handle_starttag(self, tag, attrs):
        if tag == "figure":
            self.figures.append({"id": dict(attrs).get("id"), "svg": False, "caption": ""})
        elif tag == "svg" and self.figures and not self.figures[-1]["svg"]:
            self.figures[-1]["svg"] = True
        elif tag == "table" and dict(attrs).get("id") == "coefficients":
            self.in_table = True
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_table = False
        if tag == "td" and self.in_table:
            self.cells.append("".join(self.text).strip())
        if tag in ("td", "figcaption"):
            self.text = []
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "figcaption" and self.figures:
            self.figures[-1]["caption"] += data
        if self.stack and self.stack[-1] == "td":
            self.text.append(data)


def test_the_report_renders_in_chromium_with_its_figures_and_coefficients(chromium, report, tmp_path):
    built, folder = report
    dom = _render(chromium, folder / "report.html", tmp_path / "net.json")
    parsed = _Figures()
    parsed.feed(dom)
    assert [f["id"] for f in parsed.figures] == built.kinds
    assert set(built.kinds) >= {"law", "isoflop", "residuals", "holdout", "bootstrap", "correlations", "frontier"}
    assert all(f["svg"] and len(f["caption"]) > 40 for f in parsed.figures), parsed.figures
    for name, value in built.record["params"].items():
        at = parsed.cells.index(name)
        assert parsed.cells[at + 1] == f"{value:.6g}", name


def test_the_report_makes_no_network_request(chromium, report, tmp_path):
    """A probe page that loads one image from the network shows the method sees page requests;
    the report's render then adds nothing beyond Chromium's own background hosts."""
    built, folder = report
    probe = tmp_path / "probe.html"
    probe.write_text('<html><body><img src="http://distlaw-probe.invalid/x.png"></body></html>')
    _render(chromium, probe, tmp_path / "probe.json")
    assert "distlaw-probe.invalid" in _requested_hosts(tmp_path / "probe.json")
    _render(chromium, folder / "report.html", tmp_path / "report.json")
    page_hosts = {h for h in _requested_hosts(tmp_path / "report.json")
                  if not any(h == s or h.endswith("." + s) for s in BROWSER_HOST_SUFFIXES)}
    assert page_hosts == set()
    page = built.html()
    assert not any(f'{attribute}="http' in page or f"{attribute}='http" in page for attribute in ("src", "href"))


def test_report_figures_are_figures_and_leave_matplotlib_as_it_was(report):
    import matplotlib

    built, _ = report
    backend, params = matplotlib.get_backend(), dict(matplotlib.rcParams)
    for kind in built.kinds:
        figure = built.figure(kind)
        assert isinstance(figure, matplotlib.figure.Figure) and figure.axes
    assert matplotlib.get_backend() == backend and dict(matplotlib.rcParams) == params


def test_plot_draws_one_report_figure_from_the_cli(report, tmp_path):
    _, folder = report
    done = subprocess.run([sys.executable, "-m", "distlaw", "plot", str(folder / "fit.json"), "--runs",
                           "muennighoff2023", "--kind", "residuals", "-o", str(tmp_path / "r.svg")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")
    done = subprocess.run([sys.executable, "-m", "distlaw", "report", str(folder / "fit.json"), "muennighoff2023",
                           "-o", str(tmp_path / "r.html")], capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "r.html").stat().st_size > 10_000, done.stderr


def test_a_distillation_fit_has_its_own_report(tmp_path):
    from distlaw.laws.synthetic import distillation_table

    table = distillation_table(300, seed=2)
    fit = ScalingLaw("distillation", supervised="paper", starts=256).fit(table)
    built = fit_report(fit, table)
    assert built.kinds == ["law", "residuals"]
    assert "<figure id='law'>" in built.html() and "capacity-gap" in built.caption("law")
