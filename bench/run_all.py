"""Run every benchmark and write one Markdown report.

    python bench/run_all.py --preset demo            # bench/results/REPORT.md
    python bench/run_all.py --preset tiny --only extract routing

Each ``bench/bench_<name>.py`` takes ``--preset`` and ``--out DIR``, measures its side-by-side ratios in
one process run (medians of repeated runs), and writes ``DIR/<name>.md``. This script runs them one after
another (never in parallel: timings would disturb each other) and joins their reports in a fixed order.
With ``--only``, the sections it runs replace those of an existing ``DIR/REPORT.md`` and the others are
kept; every section's heading says the date it was measured, so a report joined from several runs says so.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["extract", "registry", "routing", "breeding"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo", help="zoo preset (tiny for a quick check)")
    parser.add_argument("--out", default=str(HERE / "results"), help="where the reports go")
    parser.add_argument("--only", nargs="+", choices=ORDER, help="run only these benchmarks")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections = _sections(out / "REPORT.md") if args.only else {}
    failures = []
    for name in args.only or ORDER:
        script = HERE / f"bench_{name}.py"
        if not script.is_file():
            failures.append(f"{name}: {script.name} is missing")
            continue
        start = time.perf_counter()
        print(f"== {name} ==", flush=True)
        proc = subprocess.run([sys.executable, str(script), "--preset", args.preset, "--out", str(out / name)])
        elapsed = time.perf_counter() - start
        report = out / name / f"{name}.md"
        if proc.returncode != 0 or not report.is_file():
            failures.append(f"{name}: exit code {proc.returncode}, report {'written' if report.is_file() else 'missing'}")
            continue
        sections[name] = f"## {name} ({elapsed:.0f} s, measured {date.today().isoformat()})\n\n" + report.read_text()

    joined = len(sections) > len(args.only or ORDER)
    header = (f"# genehub benchmark report\n\nPreset `{args.preset}`; {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}; command: `python bench/run_all.py --preset {args.preset}`"
              + (" (some sections re-measured with `--only`: each heading gives its date)" if joined else "")
              + ".\nEvery figure below was measured by the run its section names.\n\n")
    if failures:
        header += "**Not measured:** " + "; ".join(failures) + "\n\n"
    (out / "REPORT.md").write_text(header + "\n".join(sections[n] for n in ORDER if n in sections))
    print(f"report: {out / 'REPORT.md'}")
    return 1 if failures else 0


def _sections(report: Path) -> dict[str, str]:
    """The ``## name (...)`` sections of an existing report, by benchmark name."""
    if not report.is_file():
        return {}
    parts = re.split(r"^(?=## )", report.read_text(), flags=re.M)
    found = {}
    for part in parts:
        match = re.match(r"## (\w+) \(", part)
        if match and match.group(1) in ORDER:
            found[match.group(1)] = part.rstrip("\n") + "\n"
    return found


if __name__ == "__main__":
    sys.exit(main())
