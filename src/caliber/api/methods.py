"""ASGI middleware: the methods a path allows, answered the same way on every path.

The router alone answers a method a path does not declare in two wrong ways: ``405``
with an ``Allow`` header naming only the methods of the first route it tried (``GET``
where the path also takes ``PUT`` and ``DELETE``), and ``422`` when another route's path
parameter happens to match (``DELETE /campaigns/statistics`` reached
``DELETE /campaigns/{campaign_id}`` and was told ``statistics`` is not a UUID). And
``OPTIONS`` was a 405.

Here a path belongs to its most specific route templates (the most literal segments:
``/campaigns/statistics`` before ``/campaigns/{campaign_id}``), and its methods are those
of every route with a template as specific that takes it (``GET /insights/{campaign_id}``
and ``DELETE /insights/{insight_id}`` are one path). ``OPTIONS`` is answered 204 with
them in ``Allow``, any other method they do not include 405 with the complete ``Allow``
and the error envelope; the rest goes on to the router. CORS preflights never get here when
``BACKEND_CORS_ORIGINS`` is set: ``CORSMiddleware`` (outside this one) answers them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from caliber.api.errors import error_body


@dataclass(frozen=True)
class _Template:
    path_format: str
    regex: re.Pattern[str]
    methods: frozenset[str]
    literals: int  # segments without a parameter: the more, the more specific
    route: Any


def _templates(routes: list[BaseRoute]) -> list[_Template]:
    found = []
    for context in iter_route_contexts(routes):
        methods = context.methods
        regex = getattr(context, "path_regex", None)
        if not methods or regex is None or context.path_format is None:
            continue  # mounts (static files) and websockets answer for themselves
        segments = context.path_format.strip("/").split("/")
        found.append(
            _Template(
                context.path_format,
                regex,
                frozenset(methods),
                sum(1 for s in segments if "{" not in s),
                context.original_route,
            )
        )
    return found


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the root path a proxy mounts the app at."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


class AllowedMethodsMiddleware:
    """``OPTIONS`` and undeclared methods answered with the path's complete ``Allow``."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self._routes = routes  # the app's (filled after this is built: read at first use)
        self._table: list[_Template] | None = None

    def allowed(self, path: str) -> tuple[frozenset[str], _Template, dict[str, str]] | None:
        """The methods ``path`` allows, the template it belongs to and its parameters;
        None when no route takes it (the router answers 404)."""
        if self._table is None:
            self._table = _templates(self._routes)
        matched = [(t, m) for t in self._table if (m := t.regex.match(path))]
        if not matched:
            return None
        most = max(t.literals for t, _ in matched)
        best = [(t, m) for t, m in matched if t.literals == most]
        template, match = best[0]
        methods = frozenset().union(*(t.methods for t, _ in best))
        return methods, template, match.groupdict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self.allowed(_route_path(scope))
        method = scope["method"]
        if found is None or (method in found[0] and method != "OPTIONS"):
            await self.app(scope, receive, send)
            return
        methods, template, params = found
        # the metrics and the access log name the route, not "unmatched"
        scope["route"] = template.route
        scope["path_params"] = params
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        response: Response
        if method == "OPTIONS":
            response = Response(status_code=204, headers={"Allow": allow})
        else:
            response = JSONResponse(
                error_body(
                    "method_not_allowed",
                    f"{method} is not allowed here; this path takes {allow}",
                    {"allowed": sorted(methods | {"OPTIONS"})},
                ),
                405,
                headers={"Allow": allow},
            )
        await response(scope, receive, send)
