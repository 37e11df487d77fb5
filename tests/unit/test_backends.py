"""The backend registry (engine/backends.py): the app's one way to make a chat backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import backends
from engine.errors import BackendUnavailableError, InvalidRequestError


def test_the_registry_names_the_local_and_the_server_backends() -> None:
    assert [k.name for k in backends.kinds()][:2] == [backends.LOCAL, backends.OPENAI]
    from engine.remote import RemoteEngine

    assert backends.factory(backends.OPENAI) is RemoteEngine
    assert backends.kind("").name == backends.LOCAL  # the default
    with pytest.raises(InvalidRequestError, match="Unknown engine 'grpc'"):
        backends.kind("grpc")


def test_a_server_backend_checks_its_address() -> None:
    with pytest.raises(BackendUnavailableError, match="not a server address"):
        backends.create(backends.OPENAI, "localhost:8080")


def test_the_local_backend_loads_a_model(smollm2_path: Path) -> None:
    engine = backends.create(backends.LOCAL, str(smollm2_path), n_ctx=512, n_threads=1)
    try:
        assert engine.n_ctx == 512 and engine.count_tokens("Hello there") > 0
    finally:
        engine.close()
