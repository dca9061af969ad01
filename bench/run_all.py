"""Run every benchmark and write one Markdown report.

    python bench/run_all.py --preset demo            # bench/results/REPORT.md
    python bench/run_all.py --preset tiny --only extract routing

Each ``bench/bench_<name>.py`` takes ``--preset`` and ``--out DIR``, measures its side-by-side ratios in
one process run (medians of repeated runs), and writes ``DIR/<name>.md``. This script runs them one after
another (never in parallel: timings would disturb each other) and joins their reports in a fixed order.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
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
    sections, failures = [], []
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
        sections.append(f"## {name} ({elapsed:.0f} s)\n\n" + report.read_text())

    header = (f"# genehub benchmark report\n\nPreset `{args.preset}`; {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}; command: `python bench/run_all.py --preset {args.preset}`.\n"
              "Every figure below was measured in this run.\n\n")
    if failures:
        header += "**Not measured:** " + "; ".join(failures) + "\n\n"
    (out / "REPORT.md").write_text(header + "\n".join(sections))
    print(f"report: {out / 'REPORT.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
