"""`hearth setup`: put the default models in place (idempotent, quick when already done)."""

from __future__ import annotations

import argparse
import sys

from app.paths import get_paths


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="prepare the default models (first run does this itself)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.catalog import ensure_default_models

    paths = get_paths().ensure()
    converter = None
    try:
        from engine.convert import convert_embedding_default  # made by the converter

        converter = convert_embedding_default
    except ImportError:
        pass
    for path in ensure_default_models(paths.models, converter):
        print(f"ready: {path}", file=sys.stderr)
    return 0
