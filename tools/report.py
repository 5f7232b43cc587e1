#!/usr/bin/python3
"""Reports for dpmnist, as PNG figures plus report.md and a self-contained report.html.

  /usr/bin/python3 tools/report.py --data data/mnist.h5                  # -> reports/data/
  /usr/bin/python3 tools/report.py --data data/mnist.h5 --run runs/seed  # -> runs/seed/report/

Needs Debian's python3-numpy, python3-h5py and python3-matplotlib (hence
/usr/bin/python3, not a pyenv python). The run report runs dpmnist-eval.
"""
import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv):
    default_bin = Path(os.environ.get("DPMNIST_BIN", REPO_ROOT / "build" / "bin"))
    parser = argparse.ArgumentParser(
        description="Data exploration of a dpmnist HDF5 data file (without --run), or the "
                    "report of a training run (with --run).")
    parser.add_argument("--data", required=True, type=Path,
                        help="HDF5 data file from dpmnist-prepare (data/mnist.h5)")
    parser.add_argument("--run", type=Path,
                        help="run directory with metrics.csv and checkpoint.h5 (runs/seed)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: reports/data/ in the repository, or "
                             "RUN/report/)")
    parser.add_argument("--eval-bin", type=Path, default=default_bin / "dpmnist-eval",
                        help="dpmnist-eval executable (default: $DPMNIST_BIN/dpmnist-eval or "
                             "build/bin/dpmnist-eval)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random samples shown in the data report (default 0)")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    try:
        import h5py  # noqa: F401
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        print(f"report: error: {e.name} is missing for {sys.executable}; install Debian's "
              "python3-numpy python3-h5py python3-matplotlib and run this with /usr/bin/python3",
              file=sys.stderr)
        return 1
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree (tests run from it)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report.common import ReportError, progress
    from report.datafile import load_data_file

    started = time.monotonic()
    try:
        data = load_data_file(args.data)
        if args.run is None:
            from report.data_report import write_data_report
            md_path, html_path = write_data_report(data, args.out or REPO_ROOT / "reports" / "data",
                                                   seed=args.seed)
        else:
            from report.run_report import write_run_report
            md_path, html_path = write_run_report(data, args.run, args.out or args.run / "report",
                                                  args.eval_bin)
    except ReportError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 1
    progress(f"done in {time.monotonic() - started:.1f} s: {md_path} (and {html_path.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
