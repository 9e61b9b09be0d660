"""The edge's ASGI app: auth, limits, transcoding to the coordinator, health and the widget bundle."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from edge.client_address import ClientAddress, parse_networks
from edge.errors import error_response
from edge.openapi import openapi_document
from edge.request_metrics import RequestMetricsMiddleware
from edge.routes import HttpRoute, coordinator_routes
from edge.settings import EdgeSettings
from edge.tracing import tracing_middleware
from edge.transcoder import (
    BadRequest,
    PayloadTooLarge,
    Transcoder,
    UnsupportedMediaType,
    build_request,
    read_json_body,
)
from mesh.admission import TurnAdmission
from mesh.auth import AuthError, KeysUnavailable, TokenVerifier
from mesh.red_metrics import rpc_client_metrics
from mesh.storage.redis_store import RateLimiter, make_redis
from mesh.tls import coordinator_channel
from mesh.token_budget import DailyTokenBudget, seconds_to_midnight_utc

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]


def _api_handler(route: HttpRoute, current: Callable[[], EdgeState]) -> Handler:
    async def handle(request: Request) -> Response:
        state = current()
        peer = request.client.host if request.client else None
        address = state.client_address.of(peer, request.headers.getlist("x-forwarded-for"))
        allowed, retry_after_s = await state.ip_limiter.allow(address)
        if not allowed:
            return error_response(
                429,
                "RESOURCE_EXHAUSTED",
                "too many requests from your network; wait a moment and try again",
                retryable=True,
                retry_after_s=max(1, math.ceil(retry_after_s)),
            )
        try:
            principal = await state.verifier.verify_authorization_header(request.headers.get("authorization"))
        except AuthError as exc:
            return error_response(401, "UNAUTHENTICATED", str(exc))
        except KeysUnavailable:
            log.warning("the host's JWKS cannot be fetched; a token with an uncached key was refused")
            return error_response(
                503, "UNAVAILABLE", "sign-in cannot be checked right now; try again shortly", retryable=True
            )
        # A resume (Last-Event-ID) never starts a turn (coordinator/resume.py): it is the rest of an answer
        # already admitted and paid for, so neither the message rate nor the daily budget applies to it, and
        # a widget reconnecting after a drop is not told "too many messages".
        if route.server_streaming and not request.headers.get("last-event-id"):
            allowed, retry_after_s = await state.turn_limiter.allow(principal.user_id)
            if not allowed:
                return error_response(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "too many messages; wait a moment and send again",
                    retryable=True,
                    retry_after_s=max(1, math.ceil(retry_after_s)),
                )
            if await state.token_budget.exhausted(principal.user_id):
                return error_response(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "today's allowance of assistant answers is used up; it renews at midnight UTC",
                    retryable=False,
                    retry_after_s=seconds_to_midnight_utc(datetime.now(UTC)),
                )
        try:
            body = await read_json_body(request, state.settings.max_body_bytes) if route.body == "*" else {}
            message = build_request(
                route, body, dict(request.path_params), dict(request.query_params), request.headers
            )
        except PayloadTooLarge as exc:
            return error_response(413, "INVALID_ARGUMENT", str(exc))
        except UnsupportedMediaType as exc:
            return error_response(415, "INVALID_ARGUMENT", str(exc))
        except BadRequest as exc:
            return error_response(400, "INVALID_ARGUMENT", str(exc))
        return await state.transcoder.call(route, message, principal.user_id)

    return handle


class EdgeState:
    """What the handlers share: settings, the coordinator channel, the token verifier."""

    def __init__(
        self, settings: EdgeSettings, channel: grpc.aio.Channel, verifier: TokenVerifier, redis: Redis
    ) -> None:
        self.settings = settings
        self.turn_limiter = RateLimiter(
            redis, settings.turn_rate_burst, settings.turn_rate_per_s, prefix="assist:ratelimit:turns"
        )
        self.ip_limiter = RateLimiter(
            redis, settings.ip_rate_burst, settings.ip_rate_per_s, prefix="assist:ratelimit:ip"
        )
        self.token_budget = DailyTokenBudget(redis, settings.daily_token_budget)
        self.client_address = ClientAddress(parse_networks(settings.trusted_proxies))
        self.channel = channel
        self.verifier = verifier
        self.transcoder = Transcoder(
            channel,
            unary_timeout_s=settings.unary_timeout_s,
            turn_timeout_s=settings.turn_timeout_s,
            admission=TurnAdmission("edge", settings.edge_max_turns_in_flight),
        )
        self.health = health_pb2_grpc.HealthStub(channel)


async def _healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def _not_found(_: Request, __: Exception) -> Response:
    return error_response(404, "NOT_FOUND", "no such route")


async def _method_not_allowed(_: Request, __: Exception) -> Response:
    return error_response(405, "INVALID_ARGUMENT", "method not allowed on this route")


class _WrongMethod:
    """An ASGI app answering 405 with the route's methods in `Allow`. An app, not a function endpoint:
    Starlette gives a function endpoint without `methods` GET only, and an app every method (QUERY too)."""

    def __init__(self, verbs: list[str]) -> None:
        self._verbs = verbs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            405, "UNIMPLEMENTED", f"this route answers {' and '.join(self._verbs)} only"
        )
        response.headers["Allow"] = ", ".join(self._verbs)
        await response(scope, receive, send)


async def _server_error(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error in the edge", exc_info=exc)
    return error_response(500, "INTERNAL", "something went wrong on our side")


def _readyz(current: Callable[[], EdgeState]) -> Handler:
    async def readyz(_: Request) -> Response:
        try:
            reply = await current().health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError as exc:
            return JSONResponse({"ready": False, "coordinator": exc.code().name}, status_code=503)
        ready = reply.status == health_pb2.HealthCheckResponse.SERVING
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    return readyz


def _widget(settings: EdgeSettings) -> Handler:
    async def widget(_: Request) -> Response:
        if not settings.widget_bundle.exists():
            return error_response(
                404, "NOT_FOUND", "the widget has not been built (npm run build in widget/)"
            )
        return FileResponse(
            settings.widget_bundle, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    return widget


def _cors(settings: EdgeSettings) -> list[Middleware]:
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            # last-event-id: a cross-origin widget resuming a cut answer (edge.routes.HEADER_FIELDS).
            allow_headers=["authorization", "content-type", "last-event-id"],
            max_age=600,
        )
    ]


async def _openapi(_: Request) -> Response:
    """The API's description, generated from the contract (edge.openapi); public, like the contract."""
    return JSONResponse(openapi_document(), headers={"Cache-Control": "public, max-age=300"})


def create_app(
    settings: EdgeSettings,
    verifier: TokenVerifier,
    *,
    channel: grpc.aio.Channel | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """Build the edge. `extra_routes` are mounted last, below the API and health routes (the development
    launcher's edge mounts the demo site there)."""
    holder: dict[str, EdgeState] = {}

    def state_now() -> EdgeState:
        return holder["state"]

    routes: list[BaseRoute] = [
        Route("/healthz", _healthz),
        Route("/readyz", _readyz(state_now)),
        Route("/widget/assist-chat.js", _widget(settings)),
        Route("/openapi.json", _openapi),
    ]
    allowed: dict[str, set[str]] = {}
    for api in coordinator_routes():
        routes.append(Route(api.path, _api_handler(api, state_now), methods=[api.verb], name=api.grpc_path))
        allowed.setdefault(api.path, set()).add(api.verb)
    # Any other method on an API path is a 405 naming the allowed ones, decided here: left to fall through,
    # it would reach `extra_routes` (the demo site mounted at /) and come back a 404.
    for path, verbs in allowed.items():
        routes.append(Route(path, _WrongMethod(sorted(verbs))))
    routes.extend(extra_routes or [])

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # The channel belongs to the server's event loop, so it is made here rather than at import.
        chan = channel or coordinator_channel(
            settings.coordinator_addr,
            settings.mesh_tls_dir or None,
            interceptors=rpc_client_metrics(),
            server_name=settings.coordinator_tls_name or None,
        )
        redis = make_redis(settings.redis_url, settings.redis_timeout_s)
        holder["state"] = EdgeState(settings, chan, verifier, redis)
        yield
        await redis.aclose()
        await verifier.aclose()
        if channel is None:
            await chan.close(None)

    return Starlette(
        routes=routes,
        middleware=[tracing_middleware(routes), Middleware(RequestMetricsMiddleware), *_cors(settings)],
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _method_not_allowed, 500: _server_error},
    )
