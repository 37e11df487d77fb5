"""The OpenAI API's JSON, without HTTP or threads: request bodies checked and turned into
GenerationRequests, answers and stream chunks built from the engine's results, errors shaped
as OpenAI's (`{"error": {"message", "type", "param", "code"}}`).

Parameters Hearth cannot honour are refused (n > 1, logprobs, tools, echo), not ignored, so a
client never gets something other than what it asked for. presence/frequency penalties are
accepted and not used (clients send 0 by default); llama.cpp's server extensions top_k,
min_p, repeat_penalty, ignore_eos and grammar are honoured. Sampling values a request leaves
out come from the user's settings (what the window and `hearth chat` use).
"""

from __future__ import annotations

import base64
import dataclasses
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from app.gateway import Embeddings, GatewayBusy, ServedModels
from engine.errors import (
    BackendUnavailableError,
    HearthError,
    InvalidRequestError,
    ModelLoadError,
    ModelNotFoundError,
)
from engine.structured import output_from_schema
from engine.types import (
    ChatMessage,
    GenerationRequest,
    GenerationStats,
    OutputFormat,
    Role,
    SamplingParams,
)

MAX_EMBEDDING_INPUTS = 2048
MAX_STOPS = 4
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    411: "invalid_request_error",
    413: "invalid_request_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """An error answer: HTTP status and OpenAI's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        kind = ERROR_TYPES.get(self.status, "invalid_request_error")
        error = {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        return {"error": error}


def error_for(exc: HearthError) -> ApiError:
    """The HTTP answer for an engine error (its user message, never its details: those may
    name files on this computer)."""
    if isinstance(exc, GatewayBusy):
        return ApiError(503, exc.user_message, code="server_busy", headers={"Retry-After": "1"})
    if isinstance(exc, InvalidRequestError):
        return ApiError(400, exc.user_message)
    if isinstance(exc, ModelNotFoundError):
        return ApiError(404, exc.user_message, "model", "model_not_found")
    if isinstance(exc, ModelLoadError):
        return ApiError(503, exc.user_message, code="model_not_loaded")
    if isinstance(exc, BackendUnavailableError):
        return ApiError(502, exc.user_message, code="upstream_unavailable")
    return ApiError(500, exc.user_message)


# -- checking values ---------------------------------------------------------------------


def _number(body: dict, key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ApiError(400, f"'{key}' must be a number from {lo:g} to {hi:g}.", key)
    return float(value)


def _whole(body: dict, key: str, lo: int, hi: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ApiError(400, f"'{key}' must be a whole number from {lo} to {hi}.", key)
    return value


def _flag(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"'{key}' must be true or false.", key)
    return value


def _refuse_unsupported(body: dict) -> None:
    if _whole(body, "n", 1, 128) not in (None, 1):
        raise ApiError(400, "Only n=1 is supported: one answer per request.", "n")
    if body.get("logprobs") not in (None, False) or body.get("top_logprobs") is not None:
        raise ApiError(400, "logprobs are not supported.", "logprobs")
    for key in ("tools", "functions"):
        if body.get(key):
            raise ApiError(400, f"'{key}' (tool calling) is not supported.", key)
    for key in ("presence_penalty", "frequency_penalty"):
        _number(body, key, -2.0, 2.0)  # accepted (clients send 0), not used


def _stops(body: dict) -> list[str]:
    value = body.get("stop")
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ApiError(400, f"'stop' must be a string or up to {MAX_STOPS} strings.", "stop")
    return list(stops)


def _output(body: dict) -> OutputFormat | None:
    grammar = body.get("grammar")
    if grammar is not None:
        if not isinstance(grammar, str) or not grammar.strip():
            raise ApiError(400, "'grammar' must be GBNF text.", "grammar")
        return OutputFormat("grammar", grammar=grammar)
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputFormat("json")
    if kind != "json_schema":
        raise ApiError(
            400,
            '\'response_format\' must be {"type": "text"}, {"type": "json_object"} or '
            '{"type": "json_schema", "json_schema": {"schema": ...}}.',
            "response_format",
        )
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or "schema" not in spec:
        raise ApiError(400, "'json_schema' needs a 'schema'.", "response_format.json_schema")
    try:
        return output_from_schema(spec["schema"])
    except InvalidRequestError as exc:
        raise ApiError(
            400, exc.user_message, "response_format.json_schema", "invalid_json_schema"
        ) from exc


def _sampling(body: dict, defaults: SamplingParams, n_ctx: int) -> SamplingParams:
    s = dataclasses.replace(defaults)
    values: dict[str, float | None] = {
        "temperature": _number(body, "temperature", 0.0, 2.0),
        "top_p": _number(body, "top_p", 0.0, 1.0),
        "min_p": _number(body, "min_p", 0.0, 1.0),
        "repeat_penalty": _number(body, "repeat_penalty", 0.0, 10.0),
    }
    for key, value in values.items():
        if value is not None:
            setattr(s, key, value)
    top_k = _whole(body, "top_k", 0, 1_000_000)
    if top_k is not None:
        s.top_k = top_k
    seed = _whole(body, "seed", -(2**63), 2**64 - 1)
    if seed is not None:
        s.seed = seed & 0xFFFFFFFF if seed >= 0 else -1
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    limit = max(n_ctx, 1)
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value > limit:
        raise ApiError(
            400,
            f"'{key}' is {value}, more than the model's context of {limit} tokens.",
            key,
            "context_length_exceeded",
        )
    max_tokens = _whole(body, key, 1, limit)
    if max_tokens is not None:
        s.max_tokens = max_tokens
    return s


def _model(body: dict, served: ServedModels, embedding: bool = False) -> str:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'model' is required: one of the names /v1/models lists.", "model")
    wanted, other = (
        (served.embedding, served.chat) if embedding else (served.chat, served.embedding)
    )
    if name == wanted and wanted:
        return name
    if name == other and other:
        use = "a chat model" if embedding else "an embedding model (for /v1/embeddings)"
        raise ApiError(400, f"'{name}' is {use}.", "model", "wrong_model_kind")
    if not wanted:
        what = "embedding model" if embedding else "chat model (none is loaded)"
        raise ApiError(503, f"This server has no {what}.", "model", "model_not_loaded")
    raise ApiError(
        404, f"The model '{name}' does not exist here; this server serves '{wanted}'.", "model",
        "model_not_found",
    )  # fmt: skip


# -- requests ----------------------------------------------------------------------------


@dataclass
class Call:
    """A checked generation request and how to answer it."""

    request: GenerationRequest
    model: str
    stream: bool
    include_usage: bool
    kind: Literal["chat", "text"]


def _content(message: dict, i: int) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ApiError(400, "Only text content is supported.", f"messages[{i}].content")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise ApiError(400, "A message's content must be text.", f"messages[{i}].content")


def _messages(body: dict) -> list[ChatMessage]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list.", "messages")
    system: list[str] = []
    turns: list[ChatMessage] = []
    for i, message in enumerate(raw):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "developer", "user", "assistant"):
            raise ApiError(
                400, "A message's role must be system, user or assistant.", f"messages[{i}].role"
            )
        text = _content(message, i)
        if role in ("system", "developer"):
            system.append(text)
            continue
        chat_role: Role = "user" if role == "user" else "assistant"
        if turns and turns[-1].role == chat_role:  # templates want turns to alternate
            turns[-1] = ChatMessage(chat_role, turns[-1].content + "\n\n" + text)
        else:
            turns.append(ChatMessage(chat_role, text))
    if not turns or turns[-1].role != "user" or not turns[-1].content.strip():
        raise ApiError(400, "The last message must be the user's, with some text.", "messages")
    head = [ChatMessage("system", "\n\n".join(system))] if system else []
    return head + turns


def _call(body: dict, served: ServedModels, defaults: SamplingParams) -> dict[str, Any]:
    """What chat and text completions share: model, sampling, stops, format, streaming."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = _model(body, served)
    _refuse_unsupported(body)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object.", "stream_options")
    return {
        "model": model,
        "stream": _flag(body, "stream"),
        "include_usage": _flag(options or {}, "include_usage"),
        "sampling": _sampling(body, defaults, served.n_ctx),
        "stop": _stops(body),
        "output": _output(body),
        "ignore_eos": _flag(body, "ignore_eos"),
    }


def parse_chat(body: Any, served: ServedModels, defaults: SamplingParams) -> Call:
    common = _call(body, served, defaults)
    request = GenerationRequest(
        _messages(body),
        common["sampling"],
        stop=common["stop"],
        output=common["output"],
        ignore_eos=common["ignore_eos"],
    )
    return Call(request, common["model"], common["stream"], common["include_usage"], "chat")


def parse_completion(body: Any, served: ServedModels, defaults: SamplingParams) -> Call:
    common = _call(body, served, defaults)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "'prompt' must be one non-empty string.", "prompt")
    if body.get("echo") or body.get("suffix") or (body.get("best_of") or 1) != 1:
        raise ApiError(400, "echo, suffix and best_of are not supported.")
    request = GenerationRequest(
        [],
        common["sampling"],
        prompt=prompt,
        stop=common["stop"],
        output=common["output"],
        ignore_eos=common["ignore_eos"],
    )
    return Call(request, common["model"], common["stream"], common["include_usage"], "text")


@dataclass
class EmbeddingCall:
    texts: list[str]
    model: str
    base64: bool
    dimensions: int | None


def parse_embeddings(body: Any, served: ServedModels) -> EmbeddingCall:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = _model(body, served, embedding=True)
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or len(texts) > MAX_EMBEDDING_INPUTS:
        raise ApiError(
            400, f"'input' must be a string or 1 to {MAX_EMBEDDING_INPUTS} strings.", "input"
        )
    if not all(isinstance(t, str) and t for t in texts):
        raise ApiError(400, "Every input must be non-empty text (token arrays are not supported).",
                       "input")  # fmt: skip
    encoding = body.get("encoding_format", "float") or "float"
    if encoding not in ("float", "base64"):
        raise ApiError(400, "'encoding_format' must be float or base64.", "encoding_format")
    dimensions = _whole(body, "dimensions", 1, 1_000_000)
    return EmbeddingCall(list(texts), model, encoding == "base64", dimensions)


# -- answers -----------------------------------------------------------------------------


def models_list(served: ServedModels, created: int) -> dict[str, Any]:
    """/v1/models. `meta.n_ctx` (as llama.cpp's server's `meta`) tells a client the context."""
    data = []
    if served.chat:
        entry = {"id": served.chat, "object": "model", "created": created, "owned_by": "hearth"}
        data.append({**entry, "meta": {"n_ctx": served.n_ctx}})
    if served.embedding:
        data.append(
            {"id": served.embedding, "object": "model", "created": created, "owned_by": "hearth"}
        )
    return {"object": "list", "data": data}


FINISH = {"stop": "stop", "length": "length", "cancelled": "stop"}


def usage(stats: GenerationStats) -> dict[str, int]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.generated_tokens,
        "total_tokens": stats.prompt_tokens + stats.generated_tokens,
    }


class Answer:
    """Builds one call's answer objects: stream chunks, or the whole answer."""

    def __init__(self, call: Call) -> None:
        self.kind = call.kind
        prefix = "chatcmpl" if call.kind == "chat" else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = call.model

    def _object(self, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def chunk(self, text: str | None, finish: str | None = None, first: bool = False) -> dict:
        if self.kind == "text":
            choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
            return self._object("text_completion", [choice])
        delta: dict[str, str] = {"role": "assistant", "content": ""} if first else {}
        if text:
            delta["content"] = text
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return self._object("chat.completion.chunk", [choice])

    def usage_chunk(self, stats: GenerationStats) -> dict[str, Any]:
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        return {**self._object(obj, []), "usage": usage(stats)}

    def whole(self, text: str, stats: GenerationStats) -> dict[str, Any]:
        finish = FINISH.get(stats.stop_reason, "stop")
        if self.kind == "text":
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            return {**self._object("text_completion", [choice]), "usage": usage(stats)}
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        return {**self._object("chat.completion", [choice]), "usage": usage(stats)}


def embeddings_answer(call: EmbeddingCall, result: Embeddings) -> dict[str, Any]:
    vectors, tokens = result.vectors, result.tokens
    if call.dimensions is not None and call.dimensions != vectors.shape[1]:
        raise ApiError(
            400,
            f"'{call.model}' makes vectors of {vectors.shape[1]} dimensions, not "
            f"{call.dimensions}.",
            "dimensions",
        )
    data = []
    for i, row in enumerate(vectors):
        value: Any = (
            base64.b64encode(row.astype("<f4").tobytes()).decode()
            if call.base64
            else [float(x) for x in row]
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": call.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
