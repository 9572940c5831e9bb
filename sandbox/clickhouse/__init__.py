"""A real ClickHouse engine (chdb) behind the ClickHouse HTTP interface, plus ZooKeeper.

`launch(workdir, ...)` starts the server, `launch_zookeeper(workdir)` a ZooKeeper for
ReplicatedMergeTree; both return a `sandbox.util.Service`. `stop(service, workdir)` ends the
server and unmounts its tmpfs if it had one.
"""

from sandbox.clickhouse.launcher import launch, stop
from sandbox.clickhouse.replicated import launch_zookeeper

__all__ = ["launch", "launch_zookeeper", "stop"]
