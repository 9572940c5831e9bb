"""Disk pressure: a size-limited tmpfs as chdb's data path (needs root).

A `keep_free_space_bytes` reserve also makes inserts fail with NOT_ENOUGH_SPACE, but
`system.disks.total_space` then stays the whole host disk, so free percentages sit near zero.
A small tmpfs gives realistic totals, and dropping partitions really frees it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

MIN_DISK_LIMIT_MIB = 16  # the seeded server and a few parts; less fails at start, not in a test
_UNITS = {"m": 1, "mi": 1, "g": 1024, "gi": 1024}


class DiskLimitError(RuntimeError):
    """`--disk-limit` cannot be honoured here (no root / CAP_SYS_ADMIN, or the mount failed)."""


def parse_size_mib(text: str) -> int:
    """`64M`, `64MiB`, `1G`, `1GiB` (case-insensitive) -> MiB; a clear ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*([mMgG][iI]?)[bB]?\s*", text)
    if m is None:
        raise ValueError(f"expected a size in MiB or GiB such as 64M or 1G, got {text!r}")
    mib = int(m[1]) * _UNITS[m[2].lower()]
    if mib < MIN_DISK_LIMIT_MIB:
        raise ValueError(
            f"{text!r} is below the {MIN_DISK_LIMIT_MIB} MiB ClickHouse needs to start"
        )
    return mib


def is_mounted(path: Path) -> bool:
    return os.path.ismount(Path(path).resolve())


def mount_tmpfs(path: Path, size_mb: int) -> None:
    """Mount a tmpfs of `size_mb` MiB on `path` (created if missing)."""
    if size_mb < 1:
        raise ValueError(f"tmpfs size must be at least 1 MiB, got {size_mb}")
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    if is_mounted(path):
        raise RuntimeError(f"{path} is already a mount point")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={int(size_mb)}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PermissionError(f"mount tmpfs on {path} failed (root needed?): {done.stderr.strip()}")


def unmount(path: Path) -> None:
    """Unmount `path` if it is a mount point (lazily, so a dying process cannot block it)."""
    path = Path(path).resolve()
    if is_mounted(path):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def tmpfs_supported() -> bool:
    """True when this process may mount (root)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0
