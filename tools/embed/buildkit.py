"""Small helpers both conversion scripts (convert.py, e5/convert_e5.py) use: timed steps, file hashes, L2 norm."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

# Step name -> seconds, filled by step() and written into each script's last_run.json.
timings: dict[str, float] = {}


def step(name: str):
    """`with step("export"):` prints the step and records how long it took in `timings`."""

    class _T:
        def __enter__(self):
            self.t = time.perf_counter()
            print(f"== {name}", flush=True)

        def __exit__(self, *exc):
            timings[name] = round(time.perf_counter() - self.t, 2)
            print(f"   {name}: {timings[name]} s", flush=True)

    return _T()


def sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
