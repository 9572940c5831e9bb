"""Loads the sandbox's fixtures: every test talks to the same real services the demo runs."""

pytest_plugins = [
    "sandbox.testing.clickhouse",
    "sandbox.testing.kube",
    "sandbox.testing.kafka",
    "sandbox.testing.prometheus",
    "sandbox.testing.s3",
    "sandbox.testing.flink",
    "sandbox.testing.stack",
]
