"""Which install a rule looks at: selector matchers on every series, install labels on every join.

As the monitoring mixins do it: `exporter` / `remediator` are the matchers every selector of the
exporter's / remediator's series carries (by default the job names the chart's ServiceMonitors
force; the Helm chart swaps these exact strings for the release's own, adding its namespace), and
`install_labels` are the labels that tell two installs apart in one Prometheus. Every aggregation
keeps them and every join matches on them, so one install's disk never decides another install's
procedure. Series without these labels (one install per Prometheus) all match, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_EXPORTER = 'job="torghut-ta-exporter"'
DEFAULT_REMEDIATOR = 'job="torghut-ta-remediator"'
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MATCHER = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*(=|!=|=~|!~)"(?:[^"\\]|\\.)*"$')


@dataclass(frozen=True)
class Scope:
    install_labels: tuple[str, ...] = ("cluster", "namespace")
    exporter: str = DEFAULT_EXPORTER
    remediator: str = DEFAULT_REMEDIATOR

    def __post_init__(self) -> None:
        for label in self.install_labels:
            if not _LABEL.match(label):
                raise ValueError(f"install label {label!r} is not a Prometheus label name")
        if len(set(self.install_labels)) != len(self.install_labels):
            raise ValueError(f"install labels repeat: {self.install_labels}")
        for name, matchers in (("exporter", self.exporter), ("remediator", self.remediator)):
            for m in split_matchers(matchers):
                if not _MATCHER.match(m):
                    raise ValueError(f'{name} selector: {m!r} is not a matcher like job="x"')

    def on(self, *extra: str) -> str:
        return f"on ({', '.join((*self.install_labels, *extra))})"

    def by(self, *extra: str) -> str:
        return f"by ({', '.join((*self.install_labels, *extra))})"

    def x(self, metric: str, *matchers: str) -> str:
        """A selector of the exporter's series."""
        return f"{metric}{{{', '.join((self.exporter, *matchers))}}}"

    def r(self, metric: str, *matchers: str) -> str:
        """A selector of the remediator's series."""
        return f"{metric}{{{', '.join((self.remediator, *matchers))}}}"

    def tmpl_query(self, metric_expr: str, *labels: str) -> str:
        """`printf "<expr with {matchers}>" $labels.a ... | query` for an annotation: the alert's
        install labels (and `labels`) select the series, so a page shows its own install's value.
        `metric_expr` holds `{SEL}` where the matchers go."""
        names = (*self.install_labels, *labels)
        matchers = ",".join(f"{n}='%s'" for n in names)
        args = " ".join(f"$labels.{n}" for n in names * metric_expr.count("{SEL}"))
        return f'printf "{metric_expr.replace("{SEL}", "{" + matchers + "}")}" {args} | query'


def split_matchers(text: str) -> list[str]:
    """'job="a", namespace=~"b,c"' -> ['job="a"', 'namespace=~"b,c"'] (commas inside quotes kept)."""
    out, cur, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out
