"""`hearth setup`: put the default models in place (idempotent, quick when already done).

Every command that needs a model does the same on first use (app.user_library.first_use);
setup also puts back a default model deleted since then, and --retune measures again."""

from __future__ import annotations

import argparse
import sys

from app.paths import get_paths


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="prepare the default models (first run does this itself)")
    p.add_argument(
        "--retune",
        action="store_true",
        help="convert the embedding model again and re-measure which weights run fastest here",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.user_library import prepare_default_models

    paths = get_paths().ensure()
    made = prepare_default_models(
        paths.models,
        lambda message: print(message, file=sys.stderr),
        retune=getattr(args, "retune", False),
        restore=True,  # also what was deleted since the first use
    )
    for path in made:
        print(f"ready: {path}", file=sys.stderr)
    return 0
