"""A matplotlib figure on the Agg backend, saved atomically as PNG."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def figure(path: Path, columns: int = 1, size: tuple[float, float] = (6.4, 4.8)) -> Iterator[Any]:
    """Yield the axes of a new figure with `columns` panels; on exit write it to `path` (temp file + rename)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..io import write_bytes_atomic

    fig, axes = plt.subplots(1, columns, figsize=size, squeeze=False, layout="constrained")
    try:
        yield axes[0] if columns > 1 else axes[0][0]
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120)
        write_bytes_atomic(path, buffer.getvalue())
    finally:
        plt.close(fig)
