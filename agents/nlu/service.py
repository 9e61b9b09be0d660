"""NluService over gRPC: intent, entities and language from the local classifier."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from assist.v1 import nlu_pb2, nlu_pb2_grpc

from agents.nlu.classifier import IntentClassifier, load_examples
from agents.nlu.entities import extract_entities
from agents.nlu.language import detect_language
from mesh.grpc_server import Registrar
from mesh.process import AgentSettings

log = logging.getLogger(__name__)


class NluSettings(AgentSettings):
    service_name: str = "nlu"
    # The model trained at build time (python -m agents.nlu.train PATH); trained in-process when missing.
    nlu_model_path: Path = Path(__file__).resolve().parents[2] / ".local" / "models" / "nlu.joblib"


class NluServicer(nlu_pb2_grpc.NluServiceServicer):
    def __init__(self, classifier: IntentClassifier) -> None:
        self._classifier = classifier

    async def Understand(  # noqa: N802 - gRPC method name
        self, request: nlu_pb2.UnderstandRequest, context: grpc.aio.ServicerContext
    ) -> nlu_pb2.UnderstandResponse:
        prediction = self._classifier.predict(request.text)
        language = detect_language(request.text, request.language_hint)
        entities = extract_entities(
            request.text, today=dt.date.today(), page_task_id=request.page_context.task_id
        )
        return nlu_pb2.UnderstandResponse(
            intent=prediction.intent,  # type: ignore[arg-type]
            confidence=prediction.confidence,
            entities=entities,
            language=language,  # type: ignore[arg-type]
            source=nlu_pb2.NLU_SOURCE_LOCAL,
        )


def load_classifier(path: Path) -> IntentClassifier:
    """The model built at build time, or one trained now from the shipped examples."""
    if path.exists():
        try:
            return IntentClassifier.load(path)
        except Exception:  # a model from another version: retrain rather than refuse to start
            log.warning("could not load the NLU model; training from the shipped examples", extra={"path": str(path)})
    return IntentClassifier.train(load_examples())


def nlu_service_factory(settings: NluSettings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def nlu_service() -> AsyncIterator[tuple[Registrar, Sequence[str]]]:
        servicer = NluServicer(load_classifier(settings.nlu_model_path))
        yield (
            lambda server: nlu_pb2_grpc.add_NluServiceServicer_to_server(servicer, server),
            [nlu_pb2.DESCRIPTOR.services_by_name["NluService"].full_name],
        )

    return nlu_service
