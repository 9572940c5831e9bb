"""Where the Flink distribution bundled in PyPI `apache-flink` and the JDK tools live."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml


class FlinkUnavailable(RuntimeError):
    """The Flink distribution or a JDK tool it needs is missing."""


@dataclass(frozen=True)
class FlinkDist:
    """A Flink distribution on disk (`pyflink/` of the apache-flink wheel)."""

    home: Path

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    @property
    def plugins(self) -> Path:
        return self.home / "plugins"

    def dist_jar(self) -> Path:
        jars = sorted(self.lib.glob("flink-dist*.jar"))
        if len(jars) != 1:
            raise FlinkUnavailable(f"expected one flink-dist jar in {self.lib}, found {jars}")
        return jars[0]

    def classpath(self) -> str:
        """lib/*.jar in name order with flink-dist last, as Flink's own scripts build it."""
        dist = self.dist_jar()
        others = sorted(p for p in self.lib.glob("*.jar") if p != dist)
        return ":".join(str(p) for p in [*others, dist])

    def java_opts(self) -> list[str]:
        """The `env.java.opts.all` flags the distribution ships (module opens for JDK 17)."""
        try:
            data = yaml.safe_load((self.conf / "config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            return []
        opts = data.get("env", {}).get("java", {}).get("opts", {}).get("all", "")
        return str(opts).split()

    def env(self) -> dict[str, str]:
        """Environment variables Flink's entrypoints read to find their own files."""
        return {
            "FLINK_HOME": str(self.home),
            "FLINK_LIB_DIR": str(self.lib),
            "FLINK_PLUGINS_DIR": str(self.plugins),
            "FLINK_OPT_DIR": str(self.home / "opt"),
            "FLINK_BIN_DIR": str(self.home / "bin"),
        }


def find_dist() -> FlinkDist:
    """The distribution inside the installed `pyflink` package."""
    try:
        import pyflink
    except ImportError as exc:
        raise FlinkUnavailable("PyPI package apache-flink (pyflink) is not installed") from exc
    home = Path(pyflink.__file__).resolve().parent
    dist = FlinkDist(home)
    if not dist.lib.is_dir():
        raise FlinkUnavailable(f"{home} has no lib/ directory: not a full Flink distribution")
    dist.dist_jar()
    return dist


def jdk_tool(name: str) -> str:
    """Absolute path of a JDK tool (`java`, `javac`, `jar`) or FlinkUnavailable."""
    path = shutil.which(name)
    if path is None:
        raise FlinkUnavailable(f"JDK tool {name!r} is not on PATH (install a JDK 17)")
    return path


def check_available() -> FlinkDist:
    """Raise FlinkUnavailable with the reason when the real Flink tier cannot run here."""
    dist = find_dist()
    for tool in ("java", "javac", "jar"):
        jdk_tool(tool)
    return dist
