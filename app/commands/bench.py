"""`hearth bench` commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the feature that owns these commands."""
