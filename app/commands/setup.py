"""`hearth setup`: put the default models in place (idempotent, quick when already done)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    from engine.catalog import ensure_default_models, ensure_embedding_model
    from rag.embedding_model import prepare_default

    paths = get_paths().ensure()

    def prepare(src: Path, out: Path) -> Path:
        return prepare_default(src, out, progress=lambda m: print(m, file=sys.stderr))

    if getattr(args, "retune", False):
        ensure_embedding_model(paths.models, prepare, force=True)
    for path in ensure_default_models(paths.models, prepare):
        print(f"ready: {path}", file=sys.stderr)
    return 0
