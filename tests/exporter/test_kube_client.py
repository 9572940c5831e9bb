"""Kubernetes error bodies reach operators as text: decoded, one line, bounded (never `b'...'`).

A real HTTP server answers the kubernetes_asyncio client the way an API server or a proxy in
front of it does. The client decodes an error body as UTF-8 and, when that fails, raises
UnicodeDecodeError with the body still bytes: that body used to reach operators as `b'...'`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from exporter.clients.kube import KubeError, get_configmap_data


@pytest.fixture
async def api_answers() -> AsyncIterator[tuple[client.ApiClient, dict[str, web.Response]]]:
    answers: dict[str, web.Response] = {}

    async def handle(request: web.Request) -> web.Response:
        return answers.pop(request.path, web.Response(status=404, text="no answer set"))

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    conf = client.Configuration()
    conf.host = f"http://127.0.0.1:{runner.addresses[0][1]}"
    api = client.ApiClient(configuration=conf)
    try:
        yield api, answers
    finally:
        await api.close()
        await runner.cleanup()


CM = "/api/v1/namespaces/torghut/configmaps/torghut-ta-config"


async def _error(api: client.ApiClient) -> KubeError:
    with pytest.raises(KubeError) as info:
        await get_configmap_data(api, namespace="torghut", name="torghut-ta-config", timeout=3)
    return info.value


async def test_a_plain_text_error_body_is_decoded_not_shown_as_bytes(api_answers) -> None:
    api, answers = api_answers
    answers[CM] = web.Response(
        status=503, text="upstream connect error\nor disconnect/reset — before headers"
    )
    err = await _error(api)
    assert err.status == 503
    assert err.reason == "HTTP 503 upstream connect error or disconnect/reset — before headers"
    assert "b'" not in str(err) and 'b"' not in str(err)


async def test_a_status_object_gives_its_message(api_answers) -> None:
    api, answers = api_answers
    status = {"kind": "Status", "message": 'configmaps "torghut-ta-config" is forbidden'}
    answers[CM] = web.Response(status=403, text=json.dumps(status), content_type="application/json")
    err = await _error(api)
    assert err.reason == 'HTTP 403 configmaps "torghut-ta-config" is forbidden'


async def test_a_huge_or_binary_error_body_is_bounded(api_answers) -> None:
    api, answers = api_answers
    answers[CM] = web.Response(status=502, body=b"\xff\xfe<html>" + b"x" * 100_000)
    err = await _error(api)
    assert err.reason.startswith("HTTP 502 \ufffd\ufffd<html>xxx")
    assert err.reason.endswith("...") and len(err.reason) < 260
    assert "b'" not in str(err)
