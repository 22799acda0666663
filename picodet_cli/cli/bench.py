"""`picodet bench`: speed, size and mAP of a model in every export format; failed formats are rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PicodetError
from ..export.formats import EMULATED_FORMATS, FORMAT_NAMES, FORMATS
from .console import console, err_console, print_json
from .options import CacheDirOpt, JsonOpt, SetOpt

FP16_FORMATS = ", ".join(f.name for f in FORMATS if f.fp16)
RUNNERS = ", ".join(f"{f.device_runner.executable} ({f.name})" for f in FORMATS if f.device_runner)
EMULATED = ", ".join(f.name for f in FORMATS if f.emulated)

EXAMPLES = """
Examples:\n
  picodet bench s-320 --formats onnx,openvino,ncnn --runs 100\n
  picodet bench picodet-s --weights best.pdparams --imgsz 320 --data recipes/s-320-coco.toml\n
  picodet bench s-320 --data my.toml --set data.root=/data/coco --formats onnx\n
  picodet bench runs/export/s-416-416 --formats onnx,mnn\n
  picodet bench runs/demo/quant --formats onnx,openvino,paddle   (FP32 and INT8 rows)\n
  picodet bench runs/demo/weights/best.pdparams --int8 runs/demo/quant --formats onnx,openvino\n
  picodet bench s-416 --device arm --adb --formats lite,ncnn --runner ./benchncnn --verbose\n
  picodet bench s-416 --device arm --adb R58M123ABC --formats ncnn --runner ./benchncnn\n
  picodet bench s-320 --device arm --emulate --formats onnx,ncnn,mnn --fp16\n
  picodet bench s-320 --json --save bench.json
"""


def bench_command(
    model: Annotated[
        str, typer.Argument(help="Zoo name, architecture (with --weights), run weights or export folder.")
    ],
    weights: Annotated[str | None, typer.Option(help="Checkpoint to benchmark instead of the zoo's weights.")] = None,
    formats: Annotated[str, typer.Option(help=f"FORMAT[,FORMAT...] or all ({','.join(FORMAT_NAMES)}).")] = "all",
    device: Annotated[
        str, typer.Option(help="cpu (this machine) or arm (aarch64 host, a phone with --adb, or --emulate).")
    ] = "cpu",
    threads: Annotated[int | None, typer.Option(min=1, help="Threads per runtime (default: all cores).")] = None,
    imgsz: Annotated[int | None, typer.Option(help="Input size, a multiple of 32 (default: the model's).")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help=f"Export and run FP16 ({FP16_FORMATS}).")] = False,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs first.")] = 5,
    runs: Annotated[int, typer.Option(min=1, help="Timed runs.")] = 50,
    data: Annotated[
        Path | None,
        typer.Option(help="Recipe (its validation split) or COCO json (with --images): adds mAP (0-1, as eval)."),
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder: timed inputs, and --data json's images.")] = None,
    overrides: SetOpt = None,
    adb: Annotated[
        bool, typer.Option("--adb", help="--adb [SERIAL]: benchmark on an Android phone over adb (with --device arm).")
    ] = False,
    serial: Annotated[
        str | None, typer.Option(help="With --adb: the phone's serial (default: the only one); same as --adb SERIAL.")
    ] = None,
    emulate: Annotated[
        bool,
        typer.Option(
            "--emulate",
            help=f"With --device arm on x86_64: run the aarch64 runtimes ({EMULATED}) under qemu and verify their "
            f"outputs (timings meaningless; the arm-emulator toolchain is installed on first use; formats run: "
            f"{', '.join(EMULATED_FORMATS)}).",
        ),
    ] = False,
    emulate_cpu: Annotated[
        str | None,
        typer.Option(
            help="With --emulate: qemu CPU model (default $PICODET_EMULATE_CPU or neoverse-n1, FP16-capable)."
        ),
    ] = None,
    runner: Annotated[list[Path] | None, typer.Option(help=f"Device benchmark binary: {RUNNERS}.")] = None,
    affinity: Annotated[str, typer.Option(help="Phone CPU cores: big | little | all | hex mask (taskset).")] = "big",
    verify: Annotated[bool, typer.Option(help="Verify fresh exports against the Paddle model.")] = True,
    int8: Annotated[
        Path | None,
        typer.Option("--int8", help="A `picodet quantize` folder of these weights: its INT8 rows beside FP32."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the adb command lines.")] = False,
    save: Annotated[
        Path | None, typer.Option(help="Also write the JSON report to this file (and its chart beside it, .png).")
    ] = None,
    as_json: JsonOpt = False,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Benchmark MODEL in each export format: latency, end-to-end time, FPS, size and (with --data) mAP."""
    from ..bench.api import bench
    from ..bench.request import BenchRequest
    from ..bench.table import bench_table

    def log(line: str) -> None:
        if verbose:
            err_console.print(f"$ {line}", style="dim", soft_wrap=True, markup=False)

    if serial is not None and not adb:
        raise PicodetError("--serial picks the phone for --adb", "add --adb --device arm")
    if emulate_cpu is not None and not emulate:
        raise PicodetError("--emulate-cpu picks the CPU for --emulate", "add --emulate --device arm")

    request = BenchRequest(
        model, weights=weights, formats=formats, device=device, threads=threads, imgsz=imgsz, fp16=fp16,
        warmup=warmup, runs=runs, data=data, images=images, overrides=list(overrides or []),
        adb=(serial or "") if adb else None, emulate=emulate, emulate_cpu=emulate_cpu, runners=runner or [],
        affinity=affinity, verify=verify, quant_dir=int8, cache_dir=cache_dir, command=["picodet", *sys.argv[1:]],
    )  # fmt: skip
    report = bench(request, progress=lambda m: err_console.print(f"{m} ..."), log=log)
    result = report.to_dict()
    chart = None
    if save is not None:
        from ..io import write_json_atomic
        from ..plots import bench_chart

        write_json_atomic(save, result)
        chart = bench_chart(result["rows"], save.with_suffix(".png"))  # latency and mAP50 per format
    if as_json:
        print_json(result)
    else:
        console.print(bench_table(result))
        if save is not None:
            console.print(f"report written to {save}" + (f", chart {chart}" if chart else ""), markup=False)
    if not any(r.status == "ok" for r in report.rows):
        raise PicodetError("no format could be benchmarked", "see the details column")


bench_command.__doc__ = f"{bench_command.__doc__}\n{EXAMPLES}"


def expand_adb_serial(args: list[str], value_options: set[str]) -> list[str]:
    """`--adb SERIAL` and `--adb=SERIAL` -> `--adb --serial SERIAL` in the arguments after `bench`.

    Typer has no options with an optional value. A word after `--adb` is the serial only once MODEL has been
    given (before that it is MODEL); `value_options` are the options that consume the next word.
    """
    out: list[str] = []
    model_seen, i = False, 0
    while i < len(args):
        word = args[i]
        following = args[i + 1] if i + 1 < len(args) else None
        if word.startswith("--adb="):
            out += ["--adb", "--serial", word.partition("=")[2]]
        elif word == "--adb" and model_seen and following is not None and not following.startswith("-"):
            out += ["--adb", "--serial", following]
            i += 1
        elif word in value_options and following is not None:
            out += [word, following]
            i += 1
        else:
            out.append(word)
            model_seen = model_seen or not word.startswith("-")
        i += 1
    return out


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
