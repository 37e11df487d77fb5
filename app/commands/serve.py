"""`hearth serve`: this computer's model and embeddings as an OpenAI-compatible API.

One engine thread (app.gateway.EngineThread, no Qt) owns the model and answers requests
one at a time in arrival order; the embedding model has a thread of its own and loads on
the first /v1/embeddings request. The HTTP layer is app/api_server.py. The first line of
standard output is the API's base URL (with --port 0, the port the system chose).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from app.paths import get_paths
from app.settings import Settings

if TYPE_CHECKING:
    from app.api_server import RequestRecord
    from app.gateway import Embeddings, ServedModels, Ticket
    from engine.types import GenerationRequest


def register(sub: argparse._SubParsersAction) -> None:
    from app.api_server import DEFAULT_PORT
    from app.commands.chat import add_model_arguments

    p = sub.add_parser(
        "serve", help="serve the OpenAI API (chat, completions, embeddings) from this computer"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 = any free port")
    p.add_argument(
        "--api-key",
        default=os.environ.get("HEARTH_API_KEY", ""),
        help="require 'Authorization: Bearer KEY' (default: $HEARTH_API_KEY); needed for any "
        "address other than loopback",
    )
    p.add_argument(
        "--cors-origin", default="", help="allow browser pages from this origin ('*' = any)"
    )
    add_model_arguments(p, remote=False)
    p.set_defaults(handler=run)


class _Starting:
    """The gateway while the model loads: the socket is bound first (a port in use fails
    at once), nothing is served until the engine is ready."""

    def models(self) -> ServedModels:
        from app.gateway import ServedModels

        return ServedModels()

    def submit(self, request: GenerationRequest, ticket: Ticket) -> None:
        from app.gateway import GatewayBusy

        raise GatewayBusy("The server is starting.")

    def embed(self, texts: list[str]) -> Embeddings:
        from app.gateway import GatewayBusy

        raise GatewayBusy("The server is starting.")


def _print_record(record: RequestRecord) -> None:
    tokens = f" {record.completion_tokens} tokens" if record.completion_tokens else ""
    finish = f" ({record.finish})" if record.finish else ""
    print(
        f"{record.client} {record.method} {record.path} {record.status}{tokens}{finish} "
        f"{record.duration_s * 1000:.0f} ms",
        file=sys.stderr,
        flush=True,
    )


def _bind(args: argparse.Namespace, settings: Settings) -> Any:
    from app.api_server import ApiServer, ServerConfig
    from app.commands.chat import sampling_from
    from engine.errors import InvalidRequestError

    config = ServerConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        cors_origin=args.cors_origin,
        defaults=sampling_from(args, settings),
    )
    verbose = bool(getattr(args, "verbose", False))
    try:
        return ApiServer(config, _Starting(), on_request=_print_record if verbose else None)
    except OSError as exc:
        raise InvalidRequestError(
            f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
            "Is another server using that port? Choose another with --port.",
            repr(exc),
        ) from exc


def run(args: argparse.Namespace) -> int:
    from app.api_server import check_bind
    from app.commands.chat import model_settings, open_engine
    from app.gateway import EmbeddingThread, EngineThread
    from app.user_library import embedding_model_path, first_use

    check_bind(args.host, args.api_key, args.port)  # before anything is loaded
    # The engine thread, the HTTP threads and llama.cpp's callbacks share the GIL; a 1 ms
    # switch interval (default 5 ms) shortens the wait of a thread that has a token to
    # write, as the window does for its GUI thread.
    sys.setswitchinterval(0.001)
    paths = get_paths()
    settings = model_settings(args)  # the served model's preset (a request's own values win)
    first_use(paths.models)
    server = _bind(args, settings)
    embeddings = EmbeddingThread(lambda: embedding_model_path(settings, paths.models))
    try:
        engine = EngineThread(lambda: open_engine(args, settings), embeddings)
    except BaseException:
        server.server_close()
        raise
    server.gateway = engine
    served = engine.models()
    print(server.url, flush=True)
    print(
        f"hearth: serving {served.chat} (and {served.embedding or 'no embedding model'}) at "
        f"{server.url}{' with an API key' if args.api_key else ''}; Ctrl+C stops",
        file=sys.stderr,
        flush=True,
    )

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("hearth: stopping", file=sys.stderr)
    finally:
        server.stop()  # answers in progress are cancelled
        engine.close()
    return 0
