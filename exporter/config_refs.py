"""References from the configuration to things outside the YAML: secrets (an environment
variable or a file, resolved once at load time) and the CA, certificate and key files."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, model_validator

from exporter.config_types import Model


class SecretRef(Model):
    """Where a secret comes from: exactly one of an environment variable or a file."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self

    def resolve(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ValueError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}") from None


class Secret:
    """A resolved secret whose repr never shows the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def secret_refs(model: BaseModel, prefix: str = "") -> list[tuple[str, SecretRef]]:
    found: list[tuple[str, SecretRef]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}{name}"
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            where = path if i is None else f"{path}[{i}]"
            if isinstance(item, SecretRef):
                found.append((where, item))
            elif isinstance(item, BaseModel):
                found.extend(secret_refs(item, where + "."))
    return found


def file_refs(model: BaseModel, prefix: str = "") -> list[tuple[str, Path]]:
    """Every set `*_file` path (CA bundles, client certificates and keys), by key path."""
    found: list[tuple[str, Path]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}{name}"
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            where = path if i is None else f"{path}[{i}]"
            if isinstance(item, Path) and name.endswith("_file"):
                found.append((where, item))
            elif isinstance(item, BaseModel) and not isinstance(item, SecretRef):
                found.extend(file_refs(item, where + "."))
    return found


def unreadable(path: Path) -> str | None:
    """Why `path` cannot be read, or None."""
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    return None
