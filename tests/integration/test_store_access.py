"""The document store admits only Hearth: the Chroma server Hearth starts refuses requests
without its token or with a wrong one (plain http.client, as any local program could send
them), and Hearth's own folders are private to the user. The library notices when the
vectors in the store were deleted or changed (with the token, or in the files) and rebuilds
them from the stored text."""

from __future__ import annotations

import http.client
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pdf_factory
import pytest

from rag.chroma_server import TOKEN_HEADER, TOKEN_NAME, ChromaProcess, read_token
from rag.config import LibraryConfig
from rag.library import Library

API = "/api/v2/tenants/default_tenant/databases/default_database/collections"


def _request(port: int, method: str, path: str, token: str | None, body: object = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers[TOKEN_HEADER] = token
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ChromaProcess:
    with ChromaProcess(tmp_path_factory.mktemp("store") / "chroma") as process:
        collection = process.client.get_or_create_collection("vectors-of-hearth")
        collection.upsert(ids=["1"], embeddings=[[0.1, 0.2, 0.3]], metadatas=[{"doc_id": 1}])
        yield process


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_requests_without_the_token_are_refused(server: ChromaProcess, token: str | None) -> None:
    cid = server.client.get_collection("vectors-of-hearth").id
    reads = [("GET", API), ("GET", f"{API}/{cid}/count")]
    writes = [
        ("POST", f"{API}/{cid}/upsert", {"ids": ["1"], "embeddings": [[9.0, 9.0, 9.0]]}),
        ("POST", f"{API}/{cid}/delete", {"ids": ["1"]}),
        ("DELETE", f"{API}/vectors-of-hearth", None),
    ]
    for method, path, *body in [*reads, *writes]:
        status = _request(server.port, method, path, token, body[0] if body else None)
        assert status in (401, 403), (method, path, status)
    collection = server.client.get_collection("vectors-of-hearth")  # untouched
    got = collection.get(ids=["1"], include=["embeddings"])
    assert [round(float(x), 3) for x in got["embeddings"][0]] == [0.1, 0.2, 0.3]


def test_with_the_token_requests_work(server: ChromaProcess) -> None:
    token = read_token(server.path.parent)
    assert token == server.token and len(token) >= 32
    assert _request(server.port, "GET", API, token) == 200
    assert _request(server.port, "GET", "/api/v2/heartbeat", None) == 200  # says nothing


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_the_token_and_the_folders_are_the_users_alone(
    server: ChromaProcess, hearth_home: Path
) -> None:
    mode = stat.S_IMODE((server.path.parent / TOKEN_NAME).stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o700

    from app.paths import get_paths

    hearth_home.mkdir(parents=True)
    (hearth_home / "data").mkdir(mode=0o755)  # made by an older Hearth: tightened
    paths = get_paths().ensure()
    for folder in (paths.data, paths.config, paths.cache, paths.documents_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert os.environ["HEARTH_MODELS_DIR"] == str(paths.models)  # moved: left as it is


# -- the index notices when its vectors are gone or changed ----------------------------------

PAGES = [
    ["The lighthouse keeper climbs 117 steps to the lamp room every evening."],
    ["The lamp was made in 1884 and burns paraffin."],
]


@pytest.fixture(scope="module")
def embedder(minilm_gguf: Path) -> Iterator[object]:
    from rag.embedder import Embedder

    emb = Embedder(minilm_gguf, n_threads=1)
    yield emb
    emb.close()


def _library(folder: Path, embedder: object) -> Library:
    config = LibraryConfig(vector_store="process")
    return Library(folder, config, embedder=embedder)  # type: ignore[arg-type]


def _tamper(lib: Library, how: str) -> None:
    """Change the store through its real server, with its token, as another program could
    if it had the token (or the files)."""
    process = lib.vector_store.process
    assert process is not None
    client = process.client
    name = lib.vectors.name
    if how == "collection deleted":
        client.delete_collection(name)
    else:
        collection = client.get_collection(name)
        first = collection.get(limit=1)["ids"][0]
        collection.upsert(ids=[first], embeddings=[[0.5] * lib.vectors.dim])


@pytest.mark.parametrize("how", ["collection deleted", "a vector replaced"])
def test_vectors_changed_outside_hearth_are_noticed_and_rebuilt(
    tmp_path: Path, embedder: object, how: str
) -> None:
    pdf = pdf_factory.text_pdf(tmp_path / "lighthouse.pdf", PAGES)
    lib = _library(tmp_path / "lib", embedder)
    try:
        lib.add([pdf])
        lib.ingest()
        stored = lib.counts()["vectors"]
        assert stored > 0 and lib.check_files() is not None  # consistent: nothing to say
        assert lib.take_vector_notice() == ""
        _tamper(lib, how)
    finally:
        lib.close()

    lib = _library(tmp_path / "lib", embedder)  # reopened: the check runs at once
    try:
        report = lib.check_files()
        notice = lib.take_vector_notice()
        assert "The document index was changed outside Hearth" in notice
        assert report.changed == [d.id for d in lib.documents()]
        assert [d.status for d in lib.documents()] == ["indexing"]
        lib.ingest()  # rebuilt from the stored text, with the usual progress
        assert [d.status for d in lib.documents()] == ["ready"]
        assert lib.counts()["vectors"] == stored
        lib.check_files()
        assert lib.take_vector_notice() == ""  # consistent again
        hits = lib.search("How many steps does the keeper climb?", k=1)
        assert hits and "117 steps" in hits[0].text
    finally:
        lib.close()
