"""Typed errors. Each carries a message written for the user; `details` is for "Copy details".

Cancelling is not an error: a cancelled generation ends normally with stop reason "cancelled".
"""

from __future__ import annotations


class HearthError(Exception):
    """Base class: `user_message` is what the window or the CLI shows."""

    def __init__(self, user_message: str, details: str = "") -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.details = details or user_message


class ModelFileError(HearthError):
    """A model file is missing, truncated, not GGUF, or otherwise unusable."""


class ModelNotFoundError(HearthError):
    """A model name matched nothing installed."""


class ModelLoadError(HearthError):
    """llama.cpp refused to load a file that looked valid."""


class InvalidRequestError(HearthError):
    """A request that cannot be served as asked (empty prompt, bad parameters)."""


class GenerationError(HearthError):
    """llama.cpp failed while processing a prompt or generating."""


class BackendUnavailableError(HearthError):
    """A remote backend (OpenAI-compatible server) cannot be reached."""


class ConversionError(HearthError):
    """A checkpoint cannot be converted to GGUF."""


class HubError(HearthError):
    """The model hub cannot be reached or returned something unusable."""


class DownloadError(HearthError):
    """A download failed (network, checksum, disk space)."""


class DocumentError(HearthError):
    """A document cannot be read or indexed; the message says why."""
