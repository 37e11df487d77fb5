"""Composition root, Qt bridges, persistence, settings, CLI."""
