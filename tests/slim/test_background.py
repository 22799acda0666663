"""The Paddle INT8 program runs in a background thread: its result, a missing toolchain and errors come back."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from picodet_cli.errors import PicodetError, ToolchainUnavailable
from picodet_cli.slim.pipeline import Background


def test_result_comes_from_another_thread_after_the_caller_went_on():
    release = threading.Event()
    names = []

    def run() -> dict:
        release.wait(10)
        names.append(threading.current_thread().name)
        return {"model": Path("paddle_int8/model.pdmodel")}

    background = Background(run)
    assert not background.future.done()  # the caller is not blocked
    release.set()
    assert background.program() == Path("paddle_int8/model.pdmodel") and background.failed == {}
    assert names and names[0] != threading.current_thread().name


def test_missing_toolchain_is_a_failed_artifact_and_other_errors_are_raised():
    def missing() -> dict:
        raise ToolchainUnavailable("legacy toolchain not installed", "picodet toolchain install legacy")

    background = Background(missing)
    assert background.program() is None
    assert set(background.failed) == {"paddle_int8", "lite_int8"} and "not installed" in background.failed["lite_int8"]

    def broken() -> dict:
        raise PicodetError("worker crashed")

    background = Background(broken)
    background.wait()
    with pytest.raises(PicodetError, match="worker crashed"):
        background.result()
