"""HTTP routes of person-started runs: replay plan and start, rollback, image rollback.

Kept apart from `server.py` (one idea per module); `create_app` registers them. Every route
needs a person who may act (an API token with may_approve, or the ingress identity), and every
action is journaled with who did it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from remediator.actuators import ActuationError
from remediator.journal import JournalError
from remediator.replay_service import Refused, ReplayService, summary
from remediator.replay_times import ReplayInputError

if TYPE_CHECKING:
    from remediator.server import App


def _error(status: int, message: str, **extra: Any) -> web.Response:
    headers = (
        {"WWW-Authenticate": 'Bearer realm="torghut-ta-remediator"'} if status == 401 else None
    )
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        data = await request.json() if request.can_read_body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "body must be a JSON object")
    if not isinstance(data, dict):
        return _error(400, "body must be a JSON object")
    return data


class ReplayRoutes:
    def __init__(self, app: App) -> None:
        self.app = app
        self.service = ReplayService(app.engine)

    async def _call(self, request: web.Request, action: str) -> web.Response:
        who = self.app.person(request, approve=True)
        if isinstance(who, web.Response):
            return who
        data = await _body(request)
        if isinstance(data, web.Response):
            return data
        try:
            if action == "plan":
                known = data.get("signals_known_good", False)
                if not isinstance(known, bool):
                    return _error(400, "signals_known_good: must be true or false")
                run = await self.service.plan(
                    start=data.get("from"),
                    end=data.get("to"),
                    reason=data.get("reason"),
                    who=who,
                    known_good=known,
                    group=data.get("group_id"),
                )
                return web.json_response(summary(run), status=201)
            run_id = request.match_info.get("run_id", "")
            if action == "start":
                run = await self.service.start(run_id, who=who)
            elif action == "rollback":
                run = await self.service.rollback(run_id, who=who, reason=data.get("reason"))
            else:
                run = await self.service.image_rollback(
                    to=data.get("to"), reason=data.get("reason"), who=who
                )
            return web.json_response(summary(run), status=202)
        except ReplayInputError as exc:
            return _error(400, str(exc), field=exc.field)
        except Refused as exc:
            extra = {"run": exc.run} if exc.run else {}
            return _error(exc.status, exc.message, **extra)
        except JournalError as exc:
            return _error(503, str(exc))
        except ActuationError as exc:
            return _error(502, f"could not read what the plan needs: {exc}")

    async def plan(self, request: web.Request) -> web.Response:
        return await self._call(request, "plan")

    async def start(self, request: web.Request) -> web.Response:
        return await self._call(request, "start")

    async def rollback(self, request: web.Request) -> web.Response:
        return await self._call(request, "rollback")

    async def image_rollback(self, request: web.Request) -> web.Response:
        return await self._call(request, "image")


def add_replay_routes(web_app: web.Application, app: App) -> None:
    routes = ReplayRoutes(app)
    web_app.router.add_post("/replay/plan", routes.plan)
    web_app.router.add_post("/replay/{run_id}/start", routes.start)
    web_app.router.add_post("/runs/{run_id}/rollback", routes.rollback)
    web_app.router.add_post("/image/rollback", routes.image_rollback)
