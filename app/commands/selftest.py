"""`hearth self-test`: check that this installation works end to end (see app/selftest.py)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from app.selftest import add_arguments

    p = sub.add_parser(
        "self-test",
        help="check this installation: load the models, index a PDF, answer from it",
    )
    add_arguments(p, verbose=False)  # `hearth -v self-test` gives the steps
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.selftest import run_cli

    return run_cli(args)
