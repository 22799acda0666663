"""`picodet zoo` and `picodet info`: the model zoo as tables or JSON."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..zoo import ZooEntry, load_zoo
from .console import console, print_json
from .options import CacheDirOpt, JsonOpt


def entry_summary(entry: ZooEntry, cached: Path | None) -> dict[str, Any]:
    """The JSON row of one zoo model."""
    return {
        "name": entry.name,
        "aliases": list(entry.aliases),
        "arch": entry.arch.name,
        "generation": entry.arch.generation,
        "input_size": entry.input_size,
        "map": entry.map,
        "map50": entry.map50,
        "params_m": entry.params_m,
        "gflops": entry.gflops,
        "latency_ms": entry.latency_ms,
        "cpu_latency_ms": entry.cpu_latency_ms,
        "url": entry.weights_url,
        "cached": cached is not None,
        "path": str(cached) if cached else None,
    }


def _cached_file(entry: ZooEntry, cache_dir: Path | None) -> Path | None:
    from ..hub.cache import Cache

    return Cache.open(cache_dir).cached_file(entry)


def zoo_command(
    pattern: Annotated[str | None, typer.Argument(help="Filter by name: substring or glob (e.g. 'l-*').")] = None,
    as_json: JsonOpt = False,
    cache_dir: CacheDirOpt = None,
) -> None:
    """List the model zoo with published accuracy, size and speed."""
    entries = load_zoo().filter(pattern)
    rows = [entry_summary(e, _cached_file(e, cache_dir)) for e in entries]
    if as_json:
        print_json(rows)
        return
    table = Table(title="PP-PicoDet model zoo (COCO val2017, published numbers)", title_justify="left")
    table.add_column("model", no_wrap=True)
    table.add_column("gen")
    for column in ("input", "mAP", "mAP50", "params M", "GFLOPs", "Lite ms", "CPU ms", "cached"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["name"],
            row["generation"],
            str(row["input_size"]),
            f"{row['map']:.1f}",
            f"{row['map50']:.1f}",
            f"{row['params_m']:.2f}",
            f"{row['gflops']:.2f}",
            f"{row['latency_ms']:.2f}",
            "-" if row["cpu_latency_ms"] is None else f"{row['cpu_latency_ms']:.1f}",
            "[green]yes[/]" if row["cached"] else "-",
        )
    if not rows:
        console.print(f"no model matches '{pattern}'")
        return
    console.print(table)


def info_command(
    name: Annotated[str, typer.Argument(help="Zoo name or alias, e.g. s-416 or picodet_s_416_coco.")],
    as_json: JsonOpt = False,
    cache_dir: CacheDirOpt = None,
    compute: Annotated[bool, typer.Option(help="Build the network to count its params and FLOPs.")] = True,
) -> None:
    """Everything about one model: architecture, published numbers, URLs, cache state."""
    entry = load_zoo().get(name)
    info = entry_summary(entry, _cached_file(entry, cache_dir))
    info.update(
        dataset=entry.dataset,
        num_classes=entry.num_classes,
        architecture=asdict(entry.arch),
        weights_url=entry.weights_url,
        log_url=entry.log_url,
        config_url=entry.config_url,
        sha256=entry.sha256 or None,
    )
    if compute:
        from ..models.flops import count_flops, count_params
        from ..models.registry import build_model

        model = build_model(entry)
        info["computed_params"] = count_params(model)
        info["computed_params_m"] = int(info["computed_params"] / 1e4) / 100  # truncated, as upstream's README
        info["computed_gflops"] = round(count_flops(model, entry.input_size), 4)
    if as_json:
        print_json(info)
        return
    table = Table(show_header=False, title=f"{entry.name} ({entry.arch.description})", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    arch = info.pop("architecture")
    for key, value in info.items():
        table.add_row(key, "-" if value is None else str(value))
    for key in ("backbone", "backbone_args", "neck_channels", "head_channels", "head_convs", "share_cls_reg"):
        table.add_row(f"arch.{key}", str(arch[key]))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("zoo")(zoo_command)
    app.command("info")(info_command)
