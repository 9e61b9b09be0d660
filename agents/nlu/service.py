"""NluService over gRPC: intent, entities and language from the local classifier, and from Gemini for the
messages the classifier is unsure about when Gemini is configured (see `agents.nlu.cascade`)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import grpc
from assist.v1 import nlu_pb2, nlu_pb2_grpc

from agents.nlu.cascade import NluCascade
from agents.nlu.classifier import IntentClassifier, load_examples
from mesh.components import listen_address
from mesh.grpc_server import Registration, service_registration
from mesh.llm import LlmClient, LlmSettings
from mesh.process import AgentSettings, ServiceFactory

log = logging.getLogger(__name__)


class NluSettings(AgentSettings, LlmSettings):
    service_name: str = "nlu"
    listen_addr: str = listen_address("nlu")
    # The model trained at build time (python -m agents.nlu.train PATH); trained in-process when missing.
    nlu_model_path: Path = Path(__file__).resolve().parents[2] / ".local" / "models" / "nlu.joblib"
    # Below this local confidence Gemini is asked (when configured); measured with `python -m eval.nlu`.
    nlu_gemini_threshold: float = 0.55
    # Classification needs no big model: the fast one, alone (no time for a fallback inside NLU's budget).
    nlu_gemini_model: str = "gemini-2.5-flash-lite"
    # Used when the caller set no deadline (the coordinator caps NLU calls at 2 s).
    nlu_default_budget_s: float = 2.0
    # Kept back from the deadline to send the local answer when Gemini is late.
    nlu_local_reserve_s: float = 0.1


class NluServicer(nlu_pb2_grpc.NluServiceServicer):
    def __init__(
        self, cascade: NluCascade, *, default_budget_s: float = 2.0, local_reserve_s: float = 0.1
    ) -> None:
        self._cascade = cascade
        self._default_budget_s = default_budget_s
        self._local_reserve_s = local_reserve_s

    async def Understand(  # noqa: N802 - gRPC method name
        self, request: nlu_pb2.UnderstandRequest, context: grpc.aio.ServicerContext
    ) -> nlu_pb2.UnderstandResponse:
        left = context.time_remaining()
        budget = self._default_budget_s if left is None else left
        return await self._cascade.understand(
            request, deadline=time.monotonic() + budget - self._local_reserve_s
        )


def load_classifier(path: Path) -> IntentClassifier:
    """The model built at build time, or one trained now from the shipped examples."""
    if path.exists():
        try:
            return IntentClassifier.load(path)
        except Exception:  # a model from another version: retrain rather than refuse to start
            log.warning(
                "could not load the NLU model; training from the shipped examples", extra={"path": str(path)}
            )
    return IntentClassifier.train(load_examples())


def nlu_service_factory(settings: NluSettings) -> ServiceFactory:
    @asynccontextmanager
    async def nlu_service() -> AsyncIterator[Registration]:
        async with AsyncExitStack() as stack:
            llm = None
            if settings.is_configured():
                llm = LlmClient(settings)
                stack.push_async_callback(llm.aclose)
                log.info(
                    "gemini configured for low-confidence messages",
                    extra={"model": settings.nlu_gemini_model, "threshold": settings.nlu_gemini_threshold},
                )
            cascade = NluCascade(
                load_classifier(settings.nlu_model_path),
                llm,
                threshold=settings.nlu_gemini_threshold,
                model=settings.nlu_gemini_model,
            )
            servicer = NluServicer(
                cascade,
                default_budget_s=settings.nlu_default_budget_s,
                local_reserve_s=settings.nlu_local_reserve_s,
            )
            yield service_registration(
                nlu_pb2_grpc.add_NluServiceServicer_to_server, servicer, nlu_pb2.DESCRIPTOR
            )

    return nlu_service
