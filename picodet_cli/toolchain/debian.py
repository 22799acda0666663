"""Debian packages without apt or root: the bookworm index, verified `.deb` downloads, a contained extractor.

The mirror is `$PICODET_DEBIAN_MIRROR`, else the first non-security `URIs:` of the host's deb822 apt source,
else deb.debian.org. `dists/bookworm/main/binary-<arch>/Packages.xz` names each package's pool file and
SHA256; every `.deb` is checked against it. Extraction reads the `ar` archive and its `data.tar.*` in Python
(no dpkg needed): member names must stay inside the target, absolute symlinks are rewritten relative to the
target, and tarfile's `data` filter refuses anything that would still escape it (links, devices, modes).
"""

from __future__ import annotations

import io
import lzma
import os
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChecksumError, DownloadError, PicodetError

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "PICODET_DEBIAN_MIRROR"
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
AR_MAGIC = b"!<arch>\n"


@dataclass(frozen=True)
class Deb:
    """One package of the index: where its file lives in the pool and what it must hash to."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int


def mirror() -> str:
    """The Debian mirror URL (see the module docstring), without a trailing slash."""
    if explicit := os.environ.get(MIRROR_ENV):
        return explicit.rstrip("/")
    try:
        text = APT_SOURCES.read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_MIRROR
    for line in text.splitlines():
        if line.startswith("URIs:"):
            uri = next((u for u in line.split()[1:] if not u.rstrip("/").endswith("-security")), None)
            if uri:
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def parse_index(text: str, wanted: set[str]) -> dict[str, Deb]:
    """The `wanted` packages of a `Packages` file (first stanza wins, as in the index order)."""
    found: dict[str, Deb] = {}
    for stanza in text.split("\n\n"):
        if not stanza.startswith(("Package: ", "\nPackage: ")):
            continue
        fields = dict(line.split(": ", 1) for line in stanza.strip().splitlines() if ": " in line[:40])
        name = fields.get("Package")
        if name in wanted and name not in found:
            found[name] = Deb(name, fields["Version"], fields["Filename"], fields["SHA256"], int(fields["Size"]))
    return found


def _fetch(url: str, dest: Path) -> Path:
    from ..hub.download import download

    part = dest.with_name(dest.name + ".part")
    try:
        download(url, part)
    except DownloadError as error:
        hint = f"check the network, or set {MIRROR_ENV} to a reachable Debian mirror"
        raise DownloadError(error.message, hint) from None
    os.replace(part, dest)
    return dest


def resolve(base: str, arch: str, names: list[str], folder: Path) -> dict[str, Deb]:
    """Download the `arch` index into `folder` and resolve every name in `names` (all must exist)."""
    url = f"{base}/dists/{SUITE}/main/binary-{arch}/Packages.xz"
    index = _fetch(url, folder / f"Packages-{arch}.xz")
    try:
        text = lzma.decompress(index.read_bytes()).decode("utf-8", errors="replace")
    except lzma.LZMAError as exc:
        raise PicodetError(
            f"the Debian index {url} is corrupt: {exc}", f"check the mirror, or set {MIRROR_ENV}"
        ) from None
    found = parse_index(text, set(names))
    if missing := [n for n in names if n not in found]:
        raise PicodetError(f"Debian {SUITE} {arch} has no package {', '.join(missing)}", f"mirror: {base}")
    return found


def fetch_deb(base: str, deb: Deb, folder: Path) -> Path:
    """Download one package into `folder` and check its SHA256 against the index."""
    from ..io import sha256_file

    path = _fetch(f"{base}/{deb.filename}", folder / posixpath.basename(deb.filename))
    digest = sha256_file(path)
    if digest != deb.sha256:
        path.unlink()
        raise ChecksumError(
            f"{path.name}: sha256 {digest[:16]}... does not match the Debian index ({deb.sha256[:16]}...)",
            f"retry, or use another mirror with {MIRROR_ENV}",
        )
    return path


def _data_tar(deb: Path) -> bytes:
    """The `data.tar.*` member of a `.deb` (an `ar` archive)."""
    blob = deb.read_bytes()
    if not blob.startswith(AR_MAGIC):
        raise PicodetError(f"{deb.name} is not a Debian package (no ar header)", "delete it and retry")
    offset = len(AR_MAGIC)
    while offset + 60 <= len(blob):
        header = blob[offset : offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        offset += 60
        if name.startswith("data.tar"):
            return blob[offset : offset + size]
        offset += size + size % 2
    raise PicodetError(f"{deb.name} has no data.tar member", "delete it and retry")


def _contained(name: str) -> str:
    """A member name relative to the target; raises when it would leave it."""
    clean = posixpath.normpath(name.lstrip("/")) if name not in ("", ".", "./") else "."
    if clean == ".." or clean.startswith("../"):
        raise PicodetError(f"refusing to extract {name!r}: it points outside the target folder")
    return clean


def extract_deb(deb: Path, target: Path, keep: Callable[[str], bool] = lambda _: True) -> list[str]:
    """Extract the files of `deb` whose relative name passes `keep` into `target`; returns those names."""
    names = []
    with tarfile.open(fileobj=io.BytesIO(_data_tar(deb)), mode="r:*") as tar:
        for member in tar:
            member.name = _contained(member.name)
            if member.name == "." or not keep(member.name):
                continue
            if member.issym() and member.linkname.startswith("/"):
                member.linkname = posixpath.relpath(_contained(member.linkname), posixpath.dirname(member.name) or ".")
            elif member.islnk():
                member.linkname = _contained(member.linkname)
            try:
                tar.extract(member, target, filter="data")
            except tarfile.FilterError as exc:
                raise PicodetError(f"refusing to extract {member.name!r} from {deb.name}: {exc}") from None
            names.append(member.name)
    return names
