"""Benchmark on an Android phone over adb: push the artifact and a native benchmark runner, run, pull, parse.

Runners are the projects' own benchmark executables built for arm64-v8a (the format table's `device_runner`:
Paddle-Lite `benchmark_bin`, ncnn `benchncnn`, MNN `benchmark.out`). Every adb command line goes through
`Adb.run`, which logs it (`--verbose`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PicodetError
from ..export.formats import FORMATS
from .timing import Latency

REMOTE_ROOT = "/data/local/tmp/picodet-bench"
AFFINITIES = ("big", "little", "all")  # or a hex CPU mask such as 0xF0 (run under taskset)
ELF_AARCH64 = 183  # e_machine of arm64 executables
PLATFORM_TOOLS = "install Android platform-tools (https://developer.android.com/tools/releases/platform-tools)"


@dataclass(frozen=True)
class RunnerSpec:
    """A native benchmark executable: which format it runs, its file name, how its files are picked (from the
    format's `device_runner` entry)."""

    format: str
    executable: str
    patterns: tuple[str, ...]  # artifact files to push (glob in the format's export folder)
    builder: str  # dotted path of the argument builder

    def arguments(self, files: list[str], size: int, threads: int, warmup: int, runs: int, affinity: str) -> list[str]:
        """The runner's command-line arguments (after the executable)."""
        from ..export.formats import load

        return load(self.builder)(files, size, threads, warmup, runs, affinity)


RUNNERS: dict[str, RunnerSpec] = {
    fmt.name: RunnerSpec(fmt.name, fmt.device_runner.executable, fmt.device_runner.files, fmt.device_runner.arguments)
    for fmt in FORMATS
    if fmt.device_runner is not None
}


def parse_runner_output(text: str) -> Latency:
    """Timings from a runner's output: the last `min`, `avg` (ms) it printed (all three runners print these)."""
    values: dict[str, float] = {}
    for key, value in re.findall(r"\b(min|max|avg|mean)\s*[=:]\s*([0-9]+(?:\.[0-9]+)?)", text):
        values["avg" if key == "mean" else key] = float(value)
    if "avg" not in values or "min" not in values:
        lines = [line for line in text.splitlines() if line.strip()]
        tail = f": {lines[-1].strip()}" if lines else " (empty)"
        raise PicodetError(f"cannot read timings from the runner output{tail}", "run with --verbose to see the command")
    return Latency(values["avg"], None, None, values["min"], 0)


def runner_problem(path: Path) -> str | None:
    """Why `path` cannot serve as a device runner, or None when it is an arm64 ELF executable."""
    if not path.is_file():
        return f"runner {path} not found"
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return f"runner {path} is not an executable (no ELF header)"
    if header[4] != 2 or int.from_bytes(header[18:20], "little") != ELF_AARCH64:
        return f"runner {path} is not an arm64-v8a (aarch64) executable"
    return None


def check_affinity(affinity: str) -> None:
    """`big`, `little`, `all` or a hex CPU mask such as 0xF0."""
    if affinity not in AFFINITIES and not re.fullmatch(r"0x[0-9a-fA-F]+", affinity):
        raise PicodetError(f"unknown --affinity '{affinity}'", "use big, little, all or a hex CPU mask such as 0xF0")


def match_runner(path: Path) -> RunnerSpec:
    """The runner spec for a `--runner` file, by name."""
    for spec in RUNNERS.values():
        if path.name == spec.executable:
            return spec
    known = ", ".join(f"{s.executable} ({s.format})" for s in RUNNERS.values())
    raise PicodetError(f"runner {path.name} fits no format", f"name the file after its runner: {known}")


def find_runner(fmt: str, given: list[Path], cache_root: Path) -> Path | None:
    """The runner for `fmt`: a `--runner` file of that name, else `<cache>/bench/runners/<executable>`."""
    spec = RUNNERS[fmt]
    for path in given:
        if match_runner(path) is spec:
            return path
    cached = cache_root / "bench" / "runners" / spec.executable
    return cached if cached.is_file() else None


class Adb:
    """A thin adb transport bound to one device; `log` receives every command line before it runs."""

    def __init__(self, serial: str | None = None, log: Callable[[str], None] = lambda _: None) -> None:
        exe = shutil.which("adb")
        if exe is None:
            raise PicodetError("adb not found on PATH", PLATFORM_TOOLS)
        self.exe, self.serial, self.log = exe, serial or os.environ.get("ANDROID_SERIAL") or None, log

    def run(self, *args: str, timeout: float = 600) -> str:
        command = [self.exe, *(["-s", self.serial] if self.serial else []), *args]
        self.log(shlex.join(["adb", *command[1:]]))
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PicodetError(f"adb {args[0]} timed out after {timeout:.0f} s", "is the device awake?") from None
        if proc.returncode:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise PicodetError(f"adb {args[0]} failed: {detail[-1] if detail else proc.returncode}")
        return proc.stdout

    def connect(self) -> str:
        """Check that the device is there; returns its model name."""
        entries = [line.split() for line in self.run("devices").splitlines()[1:] if line.strip()]
        ready = [e[0] for e in entries if e[-1] == "device"]
        if not ready:
            others = ", ".join(f"{e[0]} ({e[-1]})" for e in entries)
            hint = f"listed but not usable: {others}; accept the USB debugging prompt" if others else ""
            raise PicodetError("no Android device connected", hint or "plug in a phone with USB debugging enabled")
        if self.serial is None and len(ready) > 1:
            raise PicodetError(f"{len(ready)} devices connected: {', '.join(ready)}", "pick one with --adb SERIAL")
        if self.serial is not None and self.serial not in ready:
            raise PicodetError(f"device {self.serial} is not connected", f"connected: {', '.join(ready)}")
        self.serial = self.serial or ready[0]
        return self.run("shell", "getprop", "ro.product.model").strip() or self.serial

    def shell(self, command: str) -> str:
        return self.run("shell", command)

    def push(self, local: Path, remote: str) -> None:
        self.run("push", str(local), remote)

    def pull(self, remote: str, local: Path) -> None:
        self.run("pull", remote, str(local))


def bench_on_device(
    adb: Adb,
    spec: RunnerSpec,
    runner: Path,
    files: list[Path],
    size: int,
    threads: int,
    warmup: int,
    runs: int,
    affinity: str,
) -> Latency:
    """Push `files` and the runner, run it with threads and affinity, pull its log back and parse the timings."""
    remote = f"{REMOTE_ROOT}/{spec.format}"
    adb.shell(f"rm -rf {remote} && mkdir -p {remote}")
    for path in [*files, runner]:
        adb.push(path, f"{remote}/{path.name}")
    adb.shell(f"chmod 755 {remote}/{runner.name}")
    args = spec.arguments([p.name for p in files], size, threads, warmup, runs, affinity)
    pin = [] if affinity in AFFINITIES else ["taskset", affinity.removeprefix("0x")]
    command = shlex.join([*pin, f"./{runner.name}", *args])
    adb.shell(f"cd {remote} && LD_LIBRARY_PATH={remote} {command} > bench.log 2>&1")
    with tempfile.TemporaryDirectory(prefix="picodet-adb-") as tmp:
        local = Path(tmp) / "bench.log"
        adb.pull(f"{remote}/bench.log", local)
        latency = parse_runner_output(local.read_text(errors="replace"))
    return Latency(latency.mean, None, None, latency.min, runs)
