"""User-facing errors: one message plus a hint; the CLI prints them as one line each."""

from __future__ import annotations


class PicodetError(Exception):
    """An error the user can act on: `message` says what is wrong, `hint` what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class NotInCache(PicodetError):
    """A model was asked for offline but is not in the cache."""


class DownloadError(PicodetError):
    """A download failed (HTTP error, network, disk)."""


class ChecksumError(PicodetError):
    """A file's size or sha256 does not match what was expected."""


class UnsafeCheckpoint(PicodetError):
    """A checkpoint pickle asks for something the safe loader does not allow."""


class CheckpointMismatch(PicodetError):
    """A state dict does not fit the model (missing/unexpected keys, shapes)."""


class MissingDependency(PicodetError):
    """An optional package or toolchain is not installed."""

    def __init__(self, package: str, purpose: str, pip_name: str | None = None) -> None:
        super().__init__(
            f"{package} is needed for {purpose} but is not installed",
            f"pip install {pip_name or package}",
        )


class ToolchainUnavailable(MissingDependency):
    """A converter toolchain is not installed and cannot be installed now (offline, no suitable Python)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        PicodetError.__init__(self, message, hint)
