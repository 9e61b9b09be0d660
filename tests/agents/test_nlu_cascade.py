"""The NLU cascade: local classifier first, Gemini (the fake, through the real SDK) below the threshold."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from assist.v1 import common_pb2, nlu_pb2, nlu_pb2_grpc

from agents.nlu.cascade import NluCascade
from agents.nlu.classifier import IntentClassifier, load_examples
from agents.nlu.service import NluServicer
from mesh.grpc_server import create_server, service_registration
from mesh.llm import LlmClient
from testing.gemini_server import FakeGemini, error, json_answer, malformed

NLU_MODEL = "gemini-2.5-flash-lite"
UNSURE = "hmm, the thing with Marta's rollout, where are we?"


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return IntentClassifier.train(load_examples())


def _request(text: str, task_id: str = "") -> nlu_pb2.UnderstandRequest:
    return nlu_pb2.UnderstandRequest(text=text, page_context=common_pb2.PageContext(task_id=task_id))


def _deadline(seconds: float = 3.0) -> float:
    return time.monotonic() + seconds


@pytest.fixture
async def nlu_stub(
    classifier: IntentClassifier, llm_client: Callable[..., LlmClient]
) -> AsyncIterator[nlu_pb2_grpc.NluServiceStub]:
    """A real NLU server whose cascade always asks Gemini (threshold above any confidence)."""
    servicer = NluServicer(NluCascade(classifier, llm_client(), threshold=1.01, model=NLU_MODEL))
    server, port, *_ = await create_server(
        *service_registration(nlu_pb2_grpc.add_NluServiceServicer_to_server, servicer, nlu_pb2.DESCRIPTOR)
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield nlu_pb2_grpc.NluServiceStub(channel)
    await server.stop(None)


async def test_below_the_threshold_gemini_answers_with_structured_output(
    fake_gemini: FakeGemini, nlu_stub: nlu_pb2_grpc.NluServiceStub
) -> None:
    fake_gemini.script(
        json_answer(
            {
                "intent": "INTENT_TASK_STATUS",
                "entities": [{"kind": "task_ref", "text": "rollout"}, {"kind": "person", "text": "Marta"}],
            }
        )
    )
    response = await nlu_stub.Understand(_request(UNSURE), timeout=2)
    assert response.source == nlu_pb2.NLU_SOURCE_GEMINI
    assert response.intent == common_pb2.INTENT_TASK_STATUS
    assert {(e.kind, e.text) for e in response.entities} >= {("task_ref", "rollout"), ("person", "Marta")}
    request = fake_gemini.requests_for(NLU_MODEL)[0]
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["temperature"] == 0.0
    assert "INTENT_TASK_BLOCKERS" in config["responseSchema"]["properties"]["intent"]["enum"]
    assert UNSURE in request.text() and fake_gemini.violations == []


async def test_gemini_failing_leaves_the_local_answer(
    fake_gemini: FakeGemini, nlu_stub: nlu_pb2_grpc.NluServiceStub, classifier: IntentClassifier
) -> None:
    fake_gemini.script(*[error(500)] * 3)
    response = await nlu_stub.Understand(_request(UNSURE), timeout=2)
    assert response.source == nlu_pb2.NLU_SOURCE_LOCAL
    assert response.intent == classifier.predict(UNSURE).intent


async def test_gemini_too_slow_for_the_call_leaves_the_local_answer_in_time(
    fake_gemini: FakeGemini, nlu_stub: nlu_pb2_grpc.NluServiceStub
) -> None:
    fake_gemini.script(*[json_answer({"intent": "INTENT_HELP", "entities": []}, first_delay_s=5)] * 3)
    started = time.monotonic()
    response = await nlu_stub.Understand(_request(UNSURE), timeout=1.0)
    assert response.source == nlu_pb2.NLU_SOURCE_LOCAL
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "reply",
    [
        malformed(),
        json_answer({"intent": "INTENT_ORDER_PIZZA", "entities": []}),
        json_answer(["not", "an", "object"]),
    ],
    ids=["malformed-json", "intent-outside-the-schema", "wrong-shape"],
)
async def test_an_answer_that_does_not_fit_the_schema_leaves_the_local_answer(
    fake_gemini: FakeGemini, classifier: IntentClassifier, llm_client: Callable[..., LlmClient], reply: object
) -> None:
    fake_gemini.script(reply, model=NLU_MODEL)  # type: ignore[arg-type]
    cascade = NluCascade(classifier, llm_client(gemini_max_attempts=1), threshold=1.01, model=NLU_MODEL)
    response = await cascade.understand(_request(UNSURE), deadline=_deadline())
    assert response.source == nlu_pb2.NLU_SOURCE_LOCAL


async def test_confident_local_answers_never_reach_gemini(
    fake_gemini: FakeGemini, classifier: IntentClassifier, llm_client: Callable[..., LlmClient]
) -> None:
    cascade = NluCascade(classifier, llm_client(), threshold=0.0, model=NLU_MODEL)
    response = await cascade.understand(_request("what is late?"), deadline=_deadline())
    assert response.source == nlu_pb2.NLU_SOURCE_LOCAL
    assert fake_gemini.requests == []


async def test_without_gemini_the_local_classifier_answers_alone(classifier: IntentClassifier) -> None:
    response = await NluCascade(classifier, None, threshold=1.01).understand(
        _request(UNSURE), deadline=_deadline()
    )
    assert response.source == nlu_pb2.NLU_SOURCE_LOCAL


async def test_entities_the_model_made_up_are_dropped_and_rule_dates_kept(
    fake_gemini: FakeGemini, classifier: IntentClassifier, llm_client: Callable[..., LlmClient]
) -> None:
    fake_gemini.script(
        json_answer(
            {
                "intent": "INTENT_TASKS_DUE",
                "entities": [{"kind": "project", "text": "Apollo"}, {"kind": "person", "text": "Zeca"}],
            }
        )
    )
    cascade = NluCascade(classifier, llm_client(), threshold=1.01, model=NLU_MODEL)
    text = "anything for Apollo by friday?"
    response = await cascade.understand(_request(text), deadline=_deadline(), today=dt.date(2026, 11, 25))
    kinds = {(e.kind, e.text, e.value) for e in response.entities}
    assert ("project", "Apollo", "") in kinds
    assert ("date", "friday", "2026-11-27") in kinds
    assert not any(e.text == "Zeca" for e in response.entities)
    assert response.intent == common_pb2.INTENT_TASKS_DUE
