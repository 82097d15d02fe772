"""A real HTTP server on a loopback port that speaks Ollama's API (`POST /api/chat`,
`GET /api/tags`) and the OpenAI-compatible one (`POST /v1/chat/completions`, `GET /v1/models`)
with their real response shapes, so the LLM clients are tested over the wire. Tests set its
behaviour (`ok`, `slow`, `malformed`, `error`) and read what it received."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timezone

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from aiops_core.nats_server import free_port

GOOD_ANSWER = {
    "root_cause": "Rain attenuation on the Ku-band downlink of vsat-modem-01: SNR fell to 4 dB during a squall.",
    "impact": "Internet for guests and crew is slow; POS and reservations sync to shore is delayed.",
    "recommendations": ["Fail business traffic over to Starlink with failover_path.", "Do not reboot the modem."],
    "confidence": 0.8,
    "runbook_ids": ["rb-vsat-rain-fade", "rb-made-up"],
}


class LlmDouble:
    def __init__(self, port: int | None = None, model: str = "phi3:mini") -> None:
        self.port = port or free_port()
        self.model = model
        self.mode = "ok"
        self.delay_seconds = 2.0
        self.content = json.dumps(GOOD_ANSWER)
        self.chat_requests: list[dict] = []
        self.authorizations: list[str | None] = []
        self.models = [model]
        self.pull_requests: list[dict] = []
        self.pull_fails = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def chat_count(self) -> int:
        return len(self.chat_requests)

    def _answer_text(self) -> str:
        if self.mode == "malformed":
            return '{"root_cause": "rain fade", "recommendations": "not a list'
        return self.content

    async def _behave(self, request: Request) -> JSONResponse | None:
        self.chat_requests.append(await request.json())
        self.authorizations.append(request.headers.get("authorization"))
        if self.mode == "slow":
            await asyncio.sleep(self.delay_seconds)
        if self.mode == "error":
            return JSONResponse({"error": "model runner crashed"}, status_code=500)
        return None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/chat")
        async def ollama_chat(request: Request):
            failed = await self._behave(request)
            if failed:
                return failed
            now = datetime.now(timezone.utc).isoformat()
            return {
                "model": self.model, "created_at": now,
                "message": {"role": "assistant", "content": self._answer_text()},
                "done_reason": "stop", "done": True, "total_duration": 812345678, "load_duration": 1234567,
                "prompt_eval_count": 412, "prompt_eval_duration": 300000000, "eval_count": 96,
                "eval_duration": 500000000,
            }

        @app.get("/api/tags")
        async def ollama_tags():
            return {"models": [{
                "name": name, "model": name, "modified_at": "2026-01-10T08:00:00Z",
                "size": 2176178913, "digest": "4f2222927938",
                "details": {"format": "gguf", "family": "phi3", "parameter_size": "3.8B", "quantization_level": "Q4_0"},
            } for name in self.models]}

        @app.post("/api/pull")
        async def ollama_pull(request: Request):
            body = await request.json()
            self.pull_requests.append(body)
            if self.pull_fails:
                return JSONResponse({"error": "pull model manifest: file does not exist"}, status_code=500)
            name = body["model"] if ":" in body["model"] else f"{body['model']}:latest"
            if name not in self.models:
                self.models.append(name)
            return {"status": "success"}

        @app.post("/v1/chat/completions")
        async def openai_chat(request: Request):
            failed = await self._behave(request)
            if failed:
                return failed
            return {
                "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self._answer_text()},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 412, "completion_tokens": 96, "total_tokens": 508},
            }

        @app.get("/v1/models")
        async def openai_models():
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "llamacpp"}]}

        return app

    def start(self) -> LlmDouble:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("LLM double did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)


@pytest.fixture
def llm_double():
    double = LlmDouble().start()
    yield double
    double.stop()
