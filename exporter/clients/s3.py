"""S3 listing for checkpoint storage through aiobotocore; failures become one `S3Error` with a reason."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from exporter.config import Config, S3Config


class S3Error(Exception):
    """An S3 call failed; `code` is the S3 error code (AccessDenied, NoSuchBucket, ...) if any."""

    def __init__(self, what: str, reason: str, *, code: str | None = None) -> None:
        super().__init__(f"S3 {what}: {reason}")
        self.what = what
        self.reason = reason
        self.code = code


async def open_client(
    *,
    stack: AsyncExitStack,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout: float,
    verify: bool | str = True,
) -> Any:
    """An aiobotocore S3 client closed with `stack`. No retries: the probe's next run retries.

    `verify` is botocore's: True (system CA store), False (no verification) or a CA bundle path.
    """
    session = get_session()
    return await stack.enter_async_context(
        session.create_client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            verify=verify,
            config=AioConfig(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 1},
            ),
        )
    )


async def open_from_config(cfg: Config, *, stack: AsyncExitStack, timeout: float) -> Any:
    """The client for `checkpoint_storage` (keys from its secret references, else the default chain)."""
    key = cfg.secret("checkpoint_storage.access_key_id")
    secret = cfg.secret("checkpoint_storage.secret_access_key")
    store = cfg.checkpoint_storage
    return await open_client(
        stack=stack,
        endpoint_url=store.endpoint_url,
        region=store.region,
        access_key_id=key.get() if key else None,
        secret_access_key=secret.get() if secret else None,
        timeout=timeout,
        verify=s3_verify(store),
    )


def s3_verify(store: S3Config) -> bool | str:
    """botocore's `verify=` for the configured CA bundle / verification flag."""
    if not store.verify_tls:
        return False
    return str(store.ca_file) if store.ca_file is not None else True


async def list_page(
    s3: Any,
    *,
    bucket: str,
    prefix: str,
    delimiter: str | None = None,
    token: str | None = None,
    max_keys: int = 1000,
) -> dict[str, Any]:
    """One ListObjectsV2 page: `Contents`, `CommonPrefixes`, `NextContinuationToken`."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    if token:
        kwargs["ContinuationToken"] = token
    what = f"list s3://{bucket}/{prefix}"
    try:
        return dict(await s3.list_objects_v2(**kwargs))
    except asyncio.CancelledError:
        raise
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(
            err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        )
        raise S3Error(what, f"{code}: {err.get('Message') or exc}", code=code) from None
    except BotoCoreError as exc:
        raise S3Error(what, f"{type(exc).__name__}: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise S3Error(what, f"{type(exc).__name__}: {exc}") from None
