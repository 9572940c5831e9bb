"""Which install a panel shows: the `cluster` and `namespace` variables on every selector.

Every metric selector of every panel, annotation and variable query carries `SCOPE`
(`cluster=~"$cluster",namespace=~"$namespace"`), so two installs scraped by one Prometheus never
mix. A series without a `cluster` label (a single-cluster Prometheus) matches All (`.*`).
"""

from __future__ import annotations

from dashboards.grafana import Json, query_var

SCOPE = 'cluster=~"$cluster",namespace=~"$namespace"'
# a series every exporter exports whatever its probes find: the install's variables list it
ANCHOR = "torghut_ta_probe_success"


def sel(metric: str, *matchers: str) -> str:
    """`metric{<scope>,<matchers>}`."""
    return f"{metric}{{{','.join((SCOPE, *matchers))}}}"


def scope_vars(anchor: str = ANCHOR) -> list[Json]:
    """`cluster`, then `namespace` within it: one install at a time (All: every install).
    `anchor`: a series each install always exports, whose labels list the installs."""
    cluster = query_var("cluster", "Cluster", f"label_values({anchor}, cluster)")
    namespace = query_var(
        "namespace", "Namespace", f'label_values({anchor}{{cluster=~"$cluster"}}, namespace)'
    )
    for var in (cluster, namespace):
        var["multi"] = False
        var["current"] = {"selected": True, "text": "All", "value": "$__all"}
    return [cluster, namespace]
