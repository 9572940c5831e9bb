"""Disk pressure: a size-limited tmpfs as chdb's data path (needs root).

A `keep_free_space_bytes` reserve also makes inserts fail with NOT_ENOUGH_SPACE, but
`system.disks.total_space` then stays the whole host disk, so free percentages sit near zero.
A small tmpfs gives realistic totals, and dropping partitions really frees it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


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
