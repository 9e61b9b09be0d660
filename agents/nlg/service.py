"""NlgService over gRPC: writes the answer, streamed chunk by chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import grpc
from assist.v1 import nlg_pb2, nlg_pb2_grpc

from agents.nlg.local_writer import LocalWriter
from mesh.grpc_server import Registrar


class NlgServicer(nlg_pb2_grpc.NlgServiceServicer):
    """With no model configured, the deterministic local writer answers."""

    def __init__(self, writer: LocalWriter) -> None:
        self._writer = writer

    def _info(self) -> nlg_pb2.GenerationInfo:
        return nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)

    async def Generate(  # noqa: N802 - gRPC method name
        self, request: nlg_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> nlg_pb2.GenerateResponse:
        return nlg_pb2.GenerateResponse(text=self._writer.write(request.input), info=self._info())

    async def StreamGenerate(  # noqa: N802 - gRPC method name
        self, request: nlg_pb2.StreamGenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[nlg_pb2.StreamGenerateResponse]:
        for chunk in self._writer.chunks(request.input):
            yield nlg_pb2.StreamGenerateResponse(delta=chunk)
        yield nlg_pb2.StreamGenerateResponse(done=True, info=self._info())


@asynccontextmanager
async def nlg_service() -> AsyncIterator[tuple[Registrar, Sequence[str]]]:
    servicer = NlgServicer(LocalWriter())
    yield (
        lambda server: nlg_pb2_grpc.add_NlgServiceServicer_to_server(servicer, server),
        [nlg_pb2.DESCRIPTOR.services_by_name["NlgService"].full_name],
    )
