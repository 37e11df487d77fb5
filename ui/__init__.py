"""Widgets and Qt item models only. No llama_cpp, chromadb or pypdf imports here."""

import app.qt_compat  # noqa: F401  (PySide6 6.12 refcount work-around, before any Qt call)
