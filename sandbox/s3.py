"""A real S3 API server (moto_server) for checkpoint storage, and helpers to seed and lock it.

moto 5 serves every AWS API from one process; the sandbox uses only S3 (and IAM to make auth
real). Facts checked against moto 5.2:

- Out of the box any credentials are accepted. `enable_auth()` turns request authentication on
  for the WHOLE server through moto's `/moto-api/reset-auth` endpoint (the same switch as the
  `INITIAL_NO_AUTH_ACTION_COUNT` env var): from then on a request needs the access key of an IAM
  user created in moto. Unknown access key -> 403 `InvalidAccessKeyId`; right key, wrong secret
  -> 403 `SignatureDoesNotMatch`; a valid user whose IAM policy does not allow the action ->
  403 `AccessDenied`. Use a dedicated server for such tests (the `s3_factory` fixture) so the
  shared one stays open.
- Bucket policies are stored but not enforced, so they cannot be used to deny access.
- LastModified is stamped by the server at put time; the S3 API cannot choose it. The server
  therefore runs as `python -m sandbox.s3`: moto's own WSGI app plus one extra endpoint,
  `POST /_sandbox/last-modified`, that backdates an object (`set_last_modified`), so a test
  can seed a checkpoint written "2 hours ago" without waiting. Ground truth is always what the
  server reports: `put_checkpoints` reads every object back with head_object (whole seconds,
  the resolution S3 exposes; list_objects_v2 reports the same second).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from sandbox.util import (
    Service,
    free_port,
    python_module_args,
    spawn,
    wait_started,
)

DEFAULT_REGION = "us-east-1"
OPEN_CREDENTIALS = ("test", "test")  # accepted while auth is off


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class StoredObject:
    key: str
    last_modified: datetime
    size: int


def launch(workdir: Path, *, port: int | None = None, timeout: float = 30.0) -> Service:
    """Start moto_server on 127.0.0.1 in the background; endpoints {"s3": "http://127.0.0.1:P"}."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"s3-{port}.log"
    proc = spawn(
        python_module_args("sandbox.s3", "--port", str(port)),
        log_path=log,
        cwd=workdir,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1) as resp:
            return resp.status == 200

    wait_started(proc.pid, ready, log=log, what="moto_server", timeout=timeout)
    return Service("s3", proc.pid, {"s3": url}, str(log))


def client(
    endpoint: str, credentials: Credentials | None = None, *, region: str = DEFAULT_REGION
) -> Any:
    """A boto3 S3 client for the sandbox server (no retries, so errors surface at once)."""
    key, secret = (
        (credentials.access_key_id, credentials.secret_access_key)
        if credentials
        else OPEN_CREDENTIALS
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def ensure_bucket(endpoint: str, bucket: str, credentials: Credentials | None = None) -> None:
    """Create `bucket` unless it exists."""
    s3 = client(endpoint, credentials)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "prefix/") from "s3://bucket/prefix" (also s3a:// and s3p:// as Flink writes)."""
    for scheme in ("s3://", "s3a://", "s3p://"):
        if uri.startswith(scheme):
            bucket, _, prefix = uri[len(scheme) :].partition("/")
            if not bucket:
                break
            prefix = prefix.strip("/")
            return bucket, f"{prefix}/" if prefix else ""
    raise ValueError(f"not an s3 URI: {uri!r} (expected s3://bucket/prefix)")


def put_checkpoints(
    endpoint: str,
    checkpoints_dir: str,
    job_id: str,
    checkpoint_ids: Iterable[int],
    *,
    written_at: Sequence[datetime] | None = None,
    credentials: Credentials | None = None,
) -> list[StoredObject]:
    """Write Flink-like `<dir>/<job_id>/chk-N/_metadata` objects (bucket created if needed).

    `written_at` (one aware datetime per checkpoint) backdates each object's LastModified.
    Returns each object as the server reports it: the ground truth for a test.
    """
    bucket, prefix = parse_s3_uri(checkpoints_dir)
    ids = list(checkpoint_ids)
    if written_at is not None and len(written_at) != len(ids):
        raise ValueError(f"written_at has {len(written_at)} times for {len(ids)} checkpoints")
    ensure_bucket(endpoint, bucket, credentials)
    s3 = client(endpoint, credentials)
    stored = []
    for i, n in enumerate(ids):
        key = f"{prefix}{job_id}/chk-{n}/_metadata"
        body = json.dumps({"job": job_id, "checkpoint": n}).encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        if written_at is not None:
            set_last_modified(endpoint, bucket, key, written_at[i])
        head = s3.head_object(Bucket=bucket, Key=key)
        stored.append(StoredObject(key, head["LastModified"], int(head["ContentLength"])))
    return stored


def set_last_modified(endpoint: str, bucket: str, key: str, when: datetime) -> None:
    """Backdate (or postdate) an object's LastModified on a server started by `launch`."""
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    body = {"bucket": bucket, "key": key, "last_modified": when.timestamp()}
    request = urllib.request.Request(
        f"{endpoint}{_BACKDATE_PATH}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except urllib.error.HTTPError as exc:
        raise LookupError(
            f"cannot set LastModified of s3://{bucket}/{key}: {exc.read()!r}"
        ) from exc


def create_user(
    endpoint: str,
    name: str,
    *,
    actions: Iterable[str] = ("s3:*",),
    credentials: Credentials | None = None,
) -> Credentials:
    """An IAM user allowed `actions` on every resource; returns its access key.

    Call before `enable_auth`, or pass `credentials` of a user allowed to use IAM.
    """
    key, secret = (
        (credentials.access_key_id, credentials.secret_access_key)
        if credentials
        else OPEN_CREDENTIALS
    )
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=DEFAULT_REGION,
    )
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }
    iam.put_user_policy(
        UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy)
    )
    access = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(access["AccessKeyId"], access["SecretAccessKey"])


def _set_auth_threshold(endpoint: str, threshold: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=threshold.encode(),
        method="POST",
        # a form content type would make Flask swallow the body
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        if resp.status != 200:
            raise RuntimeError(f"moto reset-auth answered {resp.status}")


def enable_auth(endpoint: str) -> None:
    """From now on every request to this server must be signed by an IAM user's key."""
    _set_auth_threshold(endpoint, "0")


def disable_auth(endpoint: str) -> None:
    """Accept any credentials again."""
    _set_auth_threshold(endpoint, "inf")


_BACKDATE_PATH = "/_sandbox/last-modified"


def _backdate(body: bytes) -> tuple[str, bytes]:
    """Handle one backdate request against moto's in-process S3 state."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    try:
        spec = json.loads(body)
        bucket, key = str(spec["bucket"]), str(spec["key"])
        when = datetime.fromtimestamp(float(spec["last_modified"]), UTC)
    except (ValueError, KeyError, TypeError) as exc:
        return "400 Bad Request", f"bad request: {exc!r}".encode()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    stored = backend.buckets.get(bucket)
    obj = stored.keys.get(key) if stored else None
    if obj is None:
        return "404 Not Found", f"no object s3://{bucket}/{key}".encode()
    obj.last_modified = when.replace(tzinfo=None)  # moto keeps naive UTC
    return "200 OK", b"{}"


def _with_backdate(app: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == _BACKDATE_PATH and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, payload = _backdate(environ["wsgi.input"].read(length))
            start_response(status, [("Content-Type", "application/json")])
            return [payload]
        return app(environ, start_response)

    return wrapped


def main(argv: Sequence[str] | None = None) -> None:
    """Serve moto (all its APIs) plus the backdate endpoint on 127.0.0.1."""
    from moto.moto_server.threaded_moto_server import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(prog="python -m sandbox.s3")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds some URLs from it
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1",
        args.port,
        _with_backdate(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
