"""Inference and model files. Plain Python, no Qt: usable from scripts, the CLI and app/."""
