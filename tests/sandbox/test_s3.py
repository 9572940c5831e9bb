"""sandbox.s3 against a real moto S3 server through boto3 and aiobotocore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from sandbox import s3


def test_parse_s3_uri() -> None:
    assert s3.parse_s3_uri("s3://torghut-flink/checkpoints/torghut-ta") == (
        "torghut-flink",
        "checkpoints/torghut-ta/",
    )
    assert s3.parse_s3_uri("s3a://bkt/") == ("bkt", "")
    for bad in ("http://x/y", "s3://", "torghut-flink/checkpoints"):
        with pytest.raises(ValueError, match="s3 URI"):
            s3.parse_s3_uri(bad)


def test_put_checkpoints_reports_what_the_server_stored(
    s3_endpoint: str, unique_bucket: str
) -> None:
    stored = s3.put_checkpoints(
        s3_endpoint, f"s3://{unique_bucket}/checkpoints/torghut-ta", "a1b2", [1, 2, 3]
    )
    listed = s3.client(s3_endpoint).list_objects_v2(Bucket=unique_bucket, Prefix="checkpoints/")
    by_key = {o["Key"]: o["LastModified"] for o in listed["Contents"]}
    assert sorted(by_key) == [f"checkpoints/torghut-ta/a1b2/chk-{n}/_metadata" for n in (1, 2, 3)]
    for obj in stored:
        assert by_key[obj.key] == obj.last_modified
        assert abs(obj.last_modified - datetime.now(UTC)) < timedelta(minutes=1)


def test_checkpoints_can_be_backdated(s3_endpoint: str, unique_bucket: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    written = [now - timedelta(hours=3), now - timedelta(hours=2)]
    stored = s3.put_checkpoints(
        s3_endpoint, f"s3://{unique_bucket}/cp", "job", [41, 42], written_at=written
    )
    assert [o.last_modified for o in stored] == written
    listed = s3.client(s3_endpoint).list_objects_v2(Bucket=unique_bucket)["Contents"]
    assert max(o["LastModified"] for o in listed) == written[1]


def test_backdating_bad_input_is_refused(s3_endpoint: str, unique_bucket: str) -> None:
    with pytest.raises(LookupError, match="no object"):
        s3.set_last_modified(s3_endpoint, unique_bucket, "missing", datetime.now(UTC))
    with pytest.raises(ValueError, match="timezone"):
        s3.set_last_modified(s3_endpoint, unique_bucket, "missing", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="written_at"):
        s3.put_checkpoints(s3_endpoint, f"s3://{unique_bucket}/", "j", [1], written_at=[])


async def test_async_client_lists_checkpoints(s3_endpoint: str, unique_bucket: str) -> None:
    stored = s3.put_checkpoints(s3_endpoint, f"s3://{unique_bucket}/ck", "j1", [5])
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=s3.DEFAULT_REGION,
        aws_access_key_id="any",
        aws_secret_access_key="any",
    ) as client:
        page = await client.list_objects_v2(Bucket=unique_bucket, Prefix="ck/")
    assert [(o["Key"], o["LastModified"]) for o in page["Contents"]] == [
        (stored[0].key, stored[0].last_modified)
    ]


@pytest.mark.slow
async def test_auth_denies_wrong_credentials(s3_factory) -> None:
    endpoint = s3_factory().endpoints["s3"]
    s3.put_checkpoints(endpoint, "s3://torghut-flink/checkpoints/torghut-ta", "j", [1])
    reader = s3.create_user(endpoint, "exporter", actions=["s3:ListBucket", "s3:GetObject"])
    writer_only = s3.create_user(endpoint, "writer", actions=["s3:PutObject"])
    s3.enable_auth(endpoint)

    def code(creds: s3.Credentials | None) -> str:
        try:
            s3.client(endpoint, creds).list_objects_v2(Bucket="torghut-flink")
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            return str(exc.response["Error"]["Code"])
        return "ok"

    assert code(reader) == "ok"
    assert code(writer_only) == "AccessDenied"
    assert code(None) == "InvalidAccessKeyId"
    assert code(s3.Credentials(reader.access_key_id, "wrong")) == "SignatureDoesNotMatch"

    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=s3.DEFAULT_REGION,
        aws_access_key_id=writer_only.access_key_id,
        aws_secret_access_key=writer_only.secret_access_key,
    ) as client:
        with pytest.raises(ClientError, match="AccessDenied"):
            await client.list_objects_v2(Bucket="torghut-flink")

    s3.disable_auth(endpoint)
    assert code(None) == "ok"
