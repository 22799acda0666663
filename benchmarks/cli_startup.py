"""Start-up time of `picodet --help` against a bare `python -c pass` measured in the same run; JSON.

    python benchmarks/cli_startup.py --runs 10 --out cli_startup.json

Both commands alternate, so machine load affects them alike; the ratio is the number to watch (heavy
imports at module level in a command would show up here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "picodet --help": [sys.executable, "-m", "picodet_cli", "--help"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def run_once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("cli_startup.json"))
    args = parser.parse_args()

    for command in COMMANDS.values():
        run_once(command)  # warm the file cache
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            samples[name].append(run_once(command))
    result = {
        name: {"median_s": statistics.median(s), "mean_s": statistics.fmean(s), "min_s": min(s), "runs": len(s)}
        for name, s in samples.items()
    }
    help_s, bare_s = (result[name]["median_s"] for name in COMMANDS)
    report = {"python": sys.version.split()[0], "commands": result, "ratio_median": help_s / bare_s}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
