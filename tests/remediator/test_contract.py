"""remediator/openapi.json is what `ta-remediator serve` answers: schemathesis generates requests
from the document (valid and invalid ones) against a live server, with the right token and with
none, and holds every response to it: no 5xx, only documented status codes, content types,
headers and bodies. Bounded and derandomized: the same requests on every run."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, settings
from remediator_kit import ALICE_TOKEN, WEBHOOK_TOKEN, remediator_data
from schemathesis import checks

from sandbox.util import free_port, poll_until, spawn, stop_pid

OPENAPI = Path(__file__).resolve().parents[2] / "remediator" / "openapi.json"
CLI = [sys.executable, "-m", "remediator.cli"]
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
SECRETS = (WEBHOOK_TOKEN, ALICE_TOKEN, "viewer-token-0b2e")

schema = schemathesis.openapi.from_path(OPENAPI)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("contract")
    port = free_port()
    data = remediator_data(tmp, listen={"host": "127.0.0.1", "port": port})
    # nothing listens on the configured ports: probes fail fast, facts are unknown
    data["probes"] = {"default": {"interval": "5s", "timeout": "1s", "staleness": "10s"}}
    config = tmp / "remediator.yaml"
    config.write_text(yaml.safe_dump(data))
    proc = spawn([*CLI, "serve", "--config", str(config)], log_path=tmp / "serve.log")
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)

    try:
        poll_until(ready, timeout=90, what="remediator ready")
        yield url
    finally:
        stop_pid(proc.pid, timeout=30)
    log = (tmp / "serve.log").read_text()
    assert "Traceback" not in log, log[-4000:]
    for secret in SECRETS:
        assert secret not in log


@schema.parametrize()
@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_conforms_to_the_document(case: schemathesis.Case, server: str) -> None:
    token = WEBHOOK_TOKEN if case.path == "/webhook/alertmanager" else ALICE_TOKEN
    case.call_and_validate(
        base_url=server, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=30
    )
    # without a token: 401 where the document asks for one, the same answers elsewhere
    anonymous = case.call(base_url=server, timeout=30)
    case.validate_response(anonymous, checks=CHECKS)
    documented = case.method.upper() == case.operation.method.upper()
    if documented and case.operation.definition.raw.get("security", None) != []:
        assert anonymous.status_code == 401, (case.method, case.path, anonymous.status_code)
