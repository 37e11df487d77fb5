"""`hearth` command line. With no sub-command it opens the desktop window.

Each group of commands lives in app/commands/<group>.py with `register(subparsers)`; a
command's handler gets the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from engine.errors import HearthError

COMMAND_MODULES = ["chat", "chats", "models", "docs", "bench", "setup", "selftest", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth", description="Chat with local models and your documents, offline."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument(
        "--version", action="store_true", help="Hearth's version and the llama.cpp build it runs"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the desktop window (the default)")
    gui.set_defaults(handler=_run_gui)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"app.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.commands.{name}":
                raise
            continue  # a command group not built yet
        module.register(sub)
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    from app.main import main as gui_main

    return gui_main([])


def version_text() -> str:
    """'Hearth 0.1.0' and the llama.cpp build on a second line (patched, or the release and
    why); `hearth --version` and the installed program's `--version` print it."""
    from importlib.metadata import PackageNotFoundError, version

    from engine.runtime import llama_cpp_build

    try:
        hearth = f"Hearth {version('hearth')}"
    except PackageNotFoundError:
        hearth = "Hearth (version unknown)"
    return f"{hearth}\nllama.cpp build: {llama_cpp_build()}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        print(version_text())
        return 0
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # llama.cpp's own warnings (a training context shorter than an embedding batch, a
        # tokenizer remark) are for developers; its errors still reach the user's message.
        logging.getLogger("hearth.llama").setLevel(logging.ERROR)
    handler = getattr(args, "handler", None) or _run_gui
    try:
        return int(handler(args) or 0)
    except HearthError as exc:
        print(f"hearth: {exc.user_message}", file=sys.stderr)
        if args.verbose and exc.details != exc.user_message:
            print(exc.details, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hearth models | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
