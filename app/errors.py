"""Error types used across the app. The library errors live in engine.errors; app adds its own."""

from __future__ import annotations

from engine.errors import (  # noqa: F401  (re-exported for app/ and ui/)
    BackendUnavailableError,
    ConversionError,
    DocumentError,
    DownloadError,
    GenerationError,
    HearthError,
    HubError,
    InvalidRequestError,
    ModelFileError,
    ModelLoadError,
    ModelNotFoundError,
)


class StoreError(HearthError):
    """The chat store cannot be opened or written (disk full, permissions, corrupt file)."""


class SettingsError(HearthError):
    """The settings file cannot be written."""
