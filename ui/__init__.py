"""Widgets and Qt item models only. No llama_cpp, chromadb or pypdf imports here."""
