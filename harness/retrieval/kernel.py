"""The C kernel of the low-precision screen (`screen_kernel.c`, used by `screen.py`), compiled on first use.

Why C: the screen multiplies int8 or bfloat16 tiles with AMX, or 7-bit codes with AVX2, and scans each 32 x 32
block of similarities while it is in L1, re-scoring and inserting the few entries that may enter a top-k list;
neither numpy nor torch can fuse those steps, and materialising the similarity tiles costs more than the
products. The library is
built with `$CC` (default `cc`) for the local CPU (-march=native) into `$XSTILTS_KERNEL_CACHE` (default
`~/.cache/xstilts/kernels`), keyed by the source, the compiler, the flags and the CPU's flags, and loaded
with ctypes. `load()` returns None when no compiler is available or the build fails. `screen_isa()` tells
what the build multiplies with: 2 AMX (where the kernel lets the process use it), 1 AVX2, 0 neither (callers
then take the default pass).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE_FILE = Path(__file__).with_name("screen_kernel.c")
MAX_K = 64  # lists are kept by insertion, O(k) per entry; beyond this the default pass is used


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    root = os.environ.get("XSTILTS_KERNEL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "xstilts" / "kernels"


@functools.lru_cache(maxsize=1)
def load() -> ctypes.CDLL | None:
    """The compiled kernel, building it on first use; None when it cannot be built here."""
    cc = os.environ.get("CC", "cc")
    compiler = shutil.which(cc)
    if compiler is None:
        return None
    flags = ["-O3", "-march=native", "-fPIC", "-shared", "-pthread", "-fno-fast-math", "-ffp-contract=off",
             "-std=gnu99"]
    source = SOURCE_FILE.read_text()
    digest = hashlib.sha256("\0".join([source, compiler, *flags, _cpu_flags()]).encode()).hexdigest()[:16]
    target = _cache_dir() / f"screen-{digest}.so"
    if not target.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                src = Path(tmp) / "screen.c"
                src.write_text(source)
                built = Path(tmp) / "screen.so"
                subprocess.run([compiler, *flags, str(src), "-o", str(built), "-lm"], check=True,
                               capture_output=True, timeout=120)
                os.replace(built, target)
        except (OSError, subprocess.SubprocessError):
            return None
    try:
        lib = ctypes.CDLL(str(target))
    except OSError:
        return None
    ptr, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    lib.screen_isa.argtypes, lib.screen_isa.restype = [], i32
    lib.pack_rows.argtypes = [ptr, ptr, i64, i32, i32, i32, i32, ptr, ptr, ptr, ptr, ptr]
    lib.pack_rows.restype = None
    lib.knn_screen.argtypes = [ptr, ptr, i64, ptr, ptr, i64, i32, ptr, ptr, i32, ptr, ptr, ptr, ptr, ptr, ptr, ptr,
                               ptr, ptr, ptr, i32, ptr, ptr, ptr, ptr, i64, i64, i32, i64]
    lib.knn_screen.restype = i64
    lib.probe_products.argtypes, lib.probe_products.restype = [i32, i32, i64], ctypes.c_double
    return lib
