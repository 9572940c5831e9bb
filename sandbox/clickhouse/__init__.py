"""A real ClickHouse engine (chdb) behind the ClickHouse HTTP interface, plus ZooKeeper."""
