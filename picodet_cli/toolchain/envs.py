"""Side toolchains: pinned Python virtual environments that picodet provisions for converters with old wheels.

A toolchain is one row of `TOOLCHAINS` (name -> Python version -> pinned pip steps -> smoke check); adding one,
or adding packages to one, is data only. It lives in `<root>/<name>-py<XY>`, where root is `$PICODET_TOOLCHAINS`
or `<cache dir>/toolchains`.

Provisioning (`install`, or `ensure` on first use) runs under a file lock and is atomic: the venv is built in a
temporary folder beside the target, every pip step runs with its output appended to `<root>/<folder>.log`, the
smoke check imports the pinned packages with the new interpreter, the stamp file (`toolchain.json`, with the
pinned requirements) is written last, and only then is the folder renamed into place. A folder without a stamp,
or whose stamp lists other requirements, is not installed. With `PICODET_OFFLINE=1` a missing toolchain is an
error; nothing is downloaded.

The base interpreter is found in this order: `$PICODET_LITE_PYTHON`, `pythonX.Y` on PATH, pyenv's versions
(`pyenv root`, then ~/.pyenv); every candidate is run once to check that it really is Python X.Y (pyenv shims
on PATH may exist for versions that are not selected).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PicodetError, ToolchainUnavailable
from ..io import file_lock, write_json_atomic
from ..settings import get_settings

STAMP = "toolchain.json"
PYTHON_ENV = "PICODET_LITE_PYTHON"
ROOT_ENV = "PICODET_TOOLCHAINS"
PIP_TIMEOUT_S = 1800

Reporter = Callable[[str], None]


@dataclass(frozen=True)
class PipStep:
    """One `pip install` call; `no_deps` for packages whose declared dependencies must not be pulled in."""

    requirements: tuple[str, ...]
    no_deps: bool = False


@dataclass(frozen=True)
class ToolchainSpec:
    """A pinned side environment: its Python version, pip steps and the code that proves it works."""

    name: str
    python: str  # "3.10"
    steps: tuple[PipStep, ...]
    smoke: str  # Python code run by the new interpreter; it must exit 0
    purpose: str

    @property
    def folder(self) -> str:
        return f"{self.name}-py{self.python.replace('.', '')}"

    @property
    def requirements(self) -> list[str]:
        return [req for step in self.steps for req in step.requirements]


TOOLCHAINS: dict[str, ToolchainSpec] = {
    spec.name: spec
    for spec in (
        ToolchainSpec(
            name="legacy",
            python="3.10",
            # paddlelite 2.13rc0 has wheels for Python <= 3.10 only and reads legacy .pdmodel programs only;
            # paddlepaddle 2.6.2 is the last release whose jit.save writes them for every op PicoDet uses.
            # numpy 1.26.4: paddlelite's pybind module is built against numpy 1.x (Tensor.from_numpy reads
            # garbage under numpy 2.2); paddle 2.6.2 works with both.
            steps=(PipStep(("numpy==1.26.4", "paddlepaddle==2.6.2", "paddlelite==2.13rc0", "tomli==2.2.1")),),
            smoke=(
                "import numpy, paddle, paddlelite.lite as lite\n"
                "assert numpy.__version__ == '1.26.4' and paddle.__version__ == '2.6.2', paddle.__version__\n"
                "lite.Opt(); lite.MobileConfig()\n"
            ),
            # INT8 (`picodet quantize`) needs nothing more: paddle 2.6.2's own PostTrainingQuantization and
            # ImperativeQuantAware write the INT8 programs, so paddleslim (numpy-2 and opencv pins) stays out.
            purpose="Paddle-Lite export and Paddle INT8 programs (paddle 2.6.2 legacy programs + paddle_lite_opt)",
        ),
    )
}


def get_spec(name: str) -> ToolchainSpec:
    if name not in TOOLCHAINS:
        raise PicodetError(f"unknown toolchain '{name}'", f"one of: {', '.join(TOOLCHAINS)}")
    return TOOLCHAINS[name]


def toolchains_root() -> Path:
    """`$PICODET_TOOLCHAINS`, else `<cache dir>/toolchains`."""
    root = os.environ.get(ROOT_ENV)
    return Path(root).expanduser() if root else get_settings().cache_dir / "toolchains"


def toolchain_dir(spec: ToolchainSpec) -> Path:
    return toolchains_root() / spec.folder


def log_path(spec: ToolchainSpec) -> Path:
    return toolchains_root() / f"{spec.folder}.log"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def read_stamp(spec: ToolchainSpec) -> dict | None:
    """The stamp of an installed toolchain, or None when the folder is missing or incomplete."""
    try:
        return json.loads((toolchain_dir(spec) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def status(spec: ToolchainSpec) -> str:
    """'installed', 'outdated' (other pins than the table's) or 'missing'."""
    stamp = read_stamp(spec)
    if stamp is None or not venv_python(toolchain_dir(spec)).exists():
        return "missing"
    return "installed" if stamp.get("requirements") == spec.requirements else "outdated"


def _python_version(exe: str) -> str | None:
    """'X.Y' of an interpreter, or None when it does not run."""
    try:
        proc = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _pyenv_roots() -> list[str]:
    roots = []
    if pyenv := shutil.which("pyenv"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            proc = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
            if proc.returncode == 0 and proc.stdout.strip():
                roots.append(proc.stdout.strip())
    roots += [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv"), "/root/.pyenv"]
    return list(dict.fromkeys(r for r in roots if r))


def find_python(version: str) -> Path:
    """A working Python `version` interpreter (see the module docstring for the search order)."""
    hint = f"install Python {version} (e.g. `pyenv install {version}`) or set {PYTHON_ENV}=/path/to/python{version}"
    explicit = os.environ.get(PYTHON_ENV)
    if explicit:
        found = _python_version(explicit)
        if found != version:
            reason = "does not run" if found is None else f"is Python {found}"
            raise PicodetError(f"{PYTHON_ENV}={explicit} {reason}; the toolchain needs Python {version}", hint)
        return Path(explicit)
    candidates = [shutil.which(f"python{version}") or ""]
    for root in _pyenv_roots():
        candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python"), reverse=True)
    for exe in dict.fromkeys(c for c in candidates if c):
        if _python_version(exe) == version:
            return Path(exe)
    raise ToolchainUnavailable(f"no Python {version} found (needed for the Paddle-Lite toolchain)", hint)


def _pip(python: Path, step: PipStep, log: Path) -> None:
    cmd = [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    cmd += ["--no-deps"] if step.no_deps else []
    run_logged([*cmd, *step.requirements], log, "pip install " + " ".join(step.requirements))


def run_logged(cmd: list[str], log: Path, what: str) -> None:
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(cmd)}\n")
        handle.flush()
        try:
            proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise PicodetError(f"{what} timed out after {PIP_TIMEOUT_S} s", f"see the log {log}") from None
    if proc.returncode != 0:
        raise PicodetError(f"{what} failed (exit code {proc.returncode})", f"see the log {log}")


def _repoint_scripts(venv: Path, old: Path, new: Path) -> None:
    """Entry-point scripts and activate files name the venv by absolute path; point them at the final folder."""
    for script in (venv / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if str(old).encode() in data:
            script.write_bytes(data.replace(str(old).encode(), str(new).encode()))


def _build(spec: ToolchainSpec, base: Path, tmp: Path, target: Path, log: Path, report: Reporter) -> dict:
    """Fill `tmp` with the venv; returns the stamp."""
    report(f"creating a Python {spec.python} venv from {base}")
    run_logged([str(base), "-m", "venv", str(tmp)], log, f"python{spec.python} -m venv")
    python = venv_python(tmp)
    for step in spec.steps:
        report("pip install " + " ".join(step.requirements))
        _pip(python, step, log)
    report("smoke check")
    run_logged([str(python), "-c", spec.smoke], log, f"the {spec.name} toolchain smoke check")
    _repoint_scripts(tmp, tmp, target)
    return {
        "name": spec.name,
        "python": spec.python,
        "base_python": str(base),
        "requirements": spec.requirements,
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def stderr_report(message: str) -> None:
    sys.stderr.write(f"toolchain: {message}\n")
    sys.stderr.flush()


def provision(
    name: str,
    target: Path,
    log: Path,
    state: Callable[[], str],
    builder: Callable[[], Callable[[Path], dict]],
    *,
    force: bool = False,
    report: Reporter = stderr_report,
    log_kind: str = "log",
) -> Path:
    """Provision toolchain `name` into `target` as one transaction (see the module docstring); returns `target`.

    Under the lock `<root>/.<target name>.lock` (root: `target`'s parent): nothing is done when `state()` is
    'installed' (unless `force`); offline it is an error; folders left by killed builds are removed. Then
    `builder()` (which may still refuse, before anything is written) gives the function that fills a temporary
    folder beside `target` and returns the stamp; `log` is started, the stamp written last and the folder
    renamed into place. A failure leaves neither the temporary folder nor a half-built `target`.
    """
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".{target.name}.lock"):
        if state() == "installed" and not force:
            return target
        if get_settings().offline:
            raise ToolchainUnavailable(
                f"the '{name}' toolchain is {state()} and PICODET_OFFLINE=1 forbids downloading it",
                f"run `picodet toolchain install {name}` once while online",
            )
        for stale in [*root.glob(f".{target.name}.*.tmp"), *root.glob(f".{target.name}.*.trash")]:
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed build (the lock says none is running)
        build = builder()
        report(f"creating the '{name}' toolchain in {target} ({log_kind}: {log})")
        log.write_text(f"# picodet toolchain '{name}' install log\n", encoding="utf-8")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
        tmp.chmod(0o755)
        try:
            write_json_atomic(tmp / STAMP, build(tmp))
            remove_tree(target)
            os.replace(tmp, target)
        finally:
            remove_tree(tmp)
    report(f"'{name}' installed in {target}")
    return target


def install(name: str, force: bool = False, report: Reporter | None = None) -> Path:
    """Provision toolchain `name` (no-op when installed, unless `force`); returns its folder."""
    spec = get_spec(name)
    report = report or stderr_report
    target, log = toolchain_dir(spec), log_path(spec)

    def builder() -> Callable[[Path], dict]:
        base = find_python(spec.python)
        return lambda tmp: _build(spec, base, tmp, target, log, report)

    return provision(name, target, log, lambda: status(spec), builder, force=force, report=report, log_kind="pip log")


def ensure(name: str, report: Reporter | None = None) -> Path:
    """The interpreter of toolchain `name`, provisioning it first when needed."""
    spec = get_spec(name)
    if status(spec) != "installed":
        install(name, report=report)
    return venv_python(toolchain_dir(spec))


def remove(name: str) -> bool:
    """Delete toolchain `name`; False when it was not there."""
    spec = get_spec(name)
    target = toolchain_dir(spec)
    with file_lock(toolchains_root() / f".{spec.folder}.lock"):
        existed = target.exists()
        remove_tree(target)
        log_path(spec).unlink(missing_ok=True)
    return existed


def remove_tree(path: Path) -> None:
    """Delete a folder: first renamed aside so that a half-deleted tree never looks installed."""
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}.{os.getpid()}.trash")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def describe(spec: ToolchainSpec) -> dict:
    """The `toolchain ls` row of one toolchain."""
    path = toolchain_dir(spec)
    state = status(spec)
    return {
        "name": spec.name,
        "python": spec.python,
        "status": state,
        "path": str(path),
        "requirements": spec.requirements,
        "purpose": spec.purpose,
        "size_bytes": folder_size(path) if state != "missing" else None,
        "installed_at": (read_stamp(spec) or {}).get("installed_at"),
    }
