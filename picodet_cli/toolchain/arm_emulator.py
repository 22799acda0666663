"""The `arm-emulator` toolchain: run aarch64 ONNX Runtime, ncnn and MNN wheels on an x86_64 host under qemu-user.

`<root>/arm-emulator/` holds `qemu-aarch64-static` (from Debian's amd64 `qemu-user-static`), `root/` (an
aarch64 Python 3.11 userland extracted from Debian bookworm arm64 packages, plus a fake aarch64
`root/proc/cpuinfo`: ONNX Runtime's cpuinfo segfaults on the host's x86 one) and `site/` (the aarch64 cp311
wheels, installed by the host's pip with `--platform`). Nothing needs root, binfmt_misc or apt: processes
run as `qemu-aarch64-static -L root -cpu CPU root/usr/bin/python3.11 ...` (see `python_command`).

Provisioning is envs.provision's transaction: file lock, build in a temporary folder beside the target, log in
`<root>/arm-emulator.log`, smoke check under emulation, stamp written last, rename into place;
`PICODET_OFFLINE=1` refuses to download. The CPU model is `$PICODET_EMULATE_CPU` or neoverse-n1 (ARMv8.2
with FP16 arithmetic, so ncnn/MNN take their FP16 kernels; cortex-a72 has none).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from ..errors import PicodetError
from ..io import file_lock
from . import debian, envs

NAME = "arm-emulator"
PYTHON = "3.11"
QEMU_PACKAGE, QEMU_MEMBER = "qemu-user-static", "usr/bin/qemu-aarch64-static"
USERLAND = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "libgcc-s1", "libstdc++6",
    "zlib1g", "libexpat1", "libffi8", "libssl3", "libbz2-1.0", "liblzma5", "libsqlite3-0", "libncursesw6",
    "libtinfo6", "libreadline8", "libuuid1", "libcrypt1", "libdb5.3", "libgomp1", "libnsl2", "libtirpc3",
    "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3", "libkrb5support0", "libcom-err2", "libkeyutils1",
    "media-types",
)  # fmt: skip
# The host's versions (ORT's own dependencies listed: pip runs with --no-deps so ncnn's model-zoo extras stay out).
WHEELS = (
    "numpy==2.4.6", "onnxruntime==1.32.0", "flatbuffers==25.12.19", "packaging==26.2", "protobuf==7.36.2",
    "ncnn==1.0.20261020", "MNN==3.6.1",
)  # fmt: skip
PLATFORMS = (
    "manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_24_aarch64", "manylinux_2_17_aarch64",
    "manylinux2014_aarch64", "linux_aarch64",
)  # fmt: skip
CPUS = ("neoverse-n1", "cortex-a76", "cortex-a72", "cortex-a57", "cortex-a53", "cortex-a35", "a64fx", "max")
CPU_ENV = "PICODET_EMULATE_CPU"
DEFAULT_CPU = "neoverse-n1"
CPUINFO_BLOCK = (
    "processor\t: {n}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
    "asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\n"
    "CPU part\t: 0xd0c\nCPU revision\t: 1\n\n"
)
SMOKE = (
    "import platform, numpy, onnxruntime, ncnn, MNN\n"
    "assert platform.machine() == 'aarch64', platform.machine()\n"
    "print('aarch64 python', platform.python_version(), 'numpy', numpy.__version__, 'onnxruntime',"
    " onnxruntime.__version__, 'ncnn', ncnn.__version__, 'MNN', MNN.version())\n"
)


def requirements() -> list[str]:
    """What the stamp must list for the toolchain to count as installed."""
    return [QEMU_PACKAGE, *USERLAND, *WHEELS]


def folder() -> Path:
    return envs.toolchains_root() / NAME


def log_path() -> Path:
    return envs.toolchains_root() / f"{NAME}.log"


def _paths(base: Path) -> tuple[Path, Path, Path]:
    """(qemu binary, aarch64 root, aarch64 site-packages) of a toolchain folder."""
    return base / "qemu-aarch64-static", base / "root", base / "site"


def read_stamp() -> dict | None:
    try:
        return json.loads((folder() / envs.STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def status() -> str:
    """'installed', 'outdated' (other pins) or 'missing'."""
    stamp = read_stamp()
    if stamp is None or not _paths(folder())[0].is_file():
        return "missing"
    return "installed" if stamp.get("requirements") == requirements() else "outdated"


def describe() -> dict:
    """The `toolchain ls` row (same keys as envs.describe)."""
    state, stamp = status(), read_stamp() or {}
    return {
        "name": NAME,
        "python": f"{PYTHON} arm64",
        "status": state,
        "path": str(folder()),
        "requirements": [QEMU_PACKAGE, f"{len(USERLAND)} arm64 .debs", *WHEELS],
        "purpose": "`bench --device arm --emulate`: aarch64 ONNX Runtime, ncnn and MNN under qemu-user",
        "size_bytes": envs.folder_size(folder()) if state != "missing" else None,
        "installed_at": stamp.get("installed_at"),
    }


def check_host() -> None:
    """The toolchain's qemu binary is x86_64 Linux code."""
    machine = platform.machine().lower()
    if sys.platform != "linux" or machine not in ("x86_64", "amd64"):
        raise PicodetError(
            f"the arm emulator runs on x86_64 Linux; this host is {sys.platform} {machine}",
            "on an aarch64 host drop --emulate: the runtimes run natively",
        )


def cpu_model(cpu: str | None = None) -> str:
    """The qemu CPU model: `cpu`, else $PICODET_EMULATE_CPU, else neoverse-n1 (checked against CPUS)."""
    chosen = cpu or os.environ.get(CPU_ENV) or DEFAULT_CPU
    if chosen not in CPUS:
        raise PicodetError(f"unknown emulated CPU '{chosen}'", f"use one of {', '.join(CPUS)}")
    return chosen


def python_command(base: Path, args: list[str], cpu: str, pythonpath: list[Path]) -> list[str]:
    """argv running the aarch64 `python3.11 -s ARGS` of toolchain folder `base`.

    The guest gets this environment without the host's Python settings, plus PYTHONPATH = site + `pythonpath`.
    """
    qemu, root, site = _paths(base)
    unset = [arg for k in os.environ if k.startswith("PYTHON") or k == "VIRTUAL_ENV" for arg in ("-U", k)]
    path = os.pathsep.join(str(p) for p in [site, *pythonpath])
    if "," in path:  # qemu splits -E values at commas
        raise PicodetError(
            f"qemu cannot pass a PYTHONPATH with a comma: {path}", f"set {envs.ROOT_ENV} to another folder"
        )
    guest = ["-E", f"PYTHONPATH={path}", "-E", "PYTHONNOUSERSITE=1"]
    python = root / "usr" / "bin" / f"python{PYTHON}"
    return [str(qemu), "-L", str(root), "-cpu", cpu, *unset, *guest, str(python), "-s", *args]


def _build(tmp: Path, log: Path, report: envs.Reporter) -> dict:
    """Fill `tmp` (downloads in `tmp/.debs`, removed at the end); returns the stamp."""
    qemu, root, site = _paths(tmp)
    debs = tmp / ".debs"
    debs.mkdir()
    base = debian.mirror()
    report(f"reading the Debian {debian.SUITE} package index from {base}")
    host = debian.resolve(base, "amd64", [QEMU_PACKAGE], debs)
    arm = debian.resolve(base, "arm64", list(USERLAND), debs)
    mb = (host[QEMU_PACKAGE].size + sum(d.size for d in arm.values())) / 1e6
    report(f"downloading {len(arm) + 1} Debian packages ({mb:.0f} MB, sha256-checked)")
    with open(log, "a", encoding="utf-8") as handle:
        for deb in [host[QEMU_PACKAGE], *arm.values()]:
            handle.write(f"{deb.name} {deb.version} {deb.filename} sha256 {deb.sha256}\n")
    qemu_deb = debian.fetch_deb(base, host[QEMU_PACKAGE], debs)
    report("extracting qemu-aarch64-static and the aarch64 userland")
    debian.extract_deb(qemu_deb, debs / "qemu", keep=lambda name: name == QEMU_MEMBER)
    os.replace(debs / "qemu" / QEMU_MEMBER, qemu)
    for deb in arm.values():
        debian.extract_deb(debian.fetch_deb(base, deb, debs), root)
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc" / "cpuinfo").write_text("".join(CPUINFO_BLOCK.format(n=n) for n in range(2)), encoding="utf-8")
    shutil.rmtree(debs)
    report("pip install (aarch64 wheels) " + " ".join(WHEELS))
    pip = [sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--no-deps"]
    pip += ["--only-binary=:all:", "--target", str(site), "--python-version", PYTHON, "--implementation", "cp"]
    pip += [arg for tag in PLATFORMS for arg in ("--platform", tag)]
    pip += [arg for abi in ("cp311", "abi3", "none") for arg in ("--abi", abi)]
    envs.run_logged([*pip, *WHEELS], log, "pip install of the aarch64 wheels")
    report(f"smoke check under qemu ({DEFAULT_CPU})")
    envs.run_logged(python_command(tmp, ["-c", SMOKE], DEFAULT_CPU, []), log, "the arm-emulator smoke check")
    return {
        "name": NAME,
        "mirror": base,
        "packages": {d.name: d.version for d in [host[QEMU_PACKAGE], *arm.values()]},
        "requirements": requirements(),
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def install(force: bool = False, report: envs.Reporter | None = None) -> Path:
    """Provision the toolchain (no-op when installed, unless `force`); returns its folder."""
    check_host()
    report = report or envs.stderr_report
    log = log_path()
    # nothing to look up before the build starts: the builder just hands over `_build`
    return envs.provision(
        NAME, folder(), log, status, lambda: lambda tmp: _build(tmp, log, report), force=force, report=report
    )


def ensure(report: envs.Reporter | None = None) -> Path:
    """The toolchain folder, provisioning it first when needed."""
    return folder() if status() == "installed" else install(report=report)


def remove() -> bool:
    """Delete the toolchain; False when it was not there."""
    with file_lock(envs.toolchains_root() / f".{NAME}.lock"):
        existed = folder().exists()
        envs.remove_tree(folder())
        log_path().unlink(missing_ok=True)
    return existed
