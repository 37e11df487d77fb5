"""Chroma as a child process (the window's vector store) and as a server the user points
Hearth at: real Chroma server processes, real embeddings, real PDFs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pdf_factory
import psutil
import pytest

from engine.errors import DocumentError
from rag import chroma_server
from rag.chroma_server import ChromaProcess
from rag.config import LibraryConfig
from rag.library import Library

REPO = Path(__file__).resolve().parents[2]

PAGES = [
    ["The observatory on Mount Tarrok records exactly 211 clear nights each year."],
    ["Its brass telescope was ground in 1902 by an optician named Ilse Varga."],
]
OTHER = [["The bakery on Quay Street sells 73 loaves of rye bread every morning."]]


@pytest.fixture(scope="module")
def embedder(minilm_gguf: Path) -> Iterator[object]:
    from rag.embedder import Embedder

    emb = Embedder(minilm_gguf, n_threads=1)
    yield emb
    emb.close()


def make_library(path: Path, embedder: object, **config: Any) -> Library:
    return Library(path, LibraryConfig(**config), embedder=embedder)  # type: ignore[arg-type]


def _gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_server_stops_with_close_and_keeps_the_data(tmp_path: Path, embedder: object) -> None:
    """The window's store: vectors written through the server are the same files an
    in-process client reads (the command line opens the store that way)."""
    pdf = pdf_factory.text_pdf(tmp_path / "observatory.pdf", PAGES)
    lib = make_library(tmp_path / "lib", embedder, vector_store="process")
    try:
        lib.add([pdf])
        lib.ingest()
        proc = lib.vector_store.process
        assert proc is not None and proc.alive() and lib.vector_store.mode == "own server"
        pid = proc.pid
        assert pid is not None and psutil.Process(pid).ppid() == os.getpid()
        hits = lib.search("When was the telescope made?", k=2)
        assert hits and "1902" in hits[0].text and hits[0].page <= 2 <= hits[0].page_end
        vectors = lib.counts()["vectors"]
        assert vectors == lib.counts()["embedded"] > 0
    finally:
        lib.close()
    assert _gone(pid, 15), "the Chroma server outlived Library.close()"

    lib = make_library(tmp_path / "lib", embedder)  # in-process
    try:
        assert not lib.has_work()
        assert lib.counts()["vectors"] == vectors
        hits = lib.search("When was the telescope made?", k=2)
        assert hits and "1902" in hits[0].text
    finally:
        lib.close()


CHILD = """
import sys, time
from pathlib import Path
from rag import chroma_server
from rag.chroma_server import ChromaProcess
p = ChromaProcess(Path(sys.argv[1]))
print(p.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_server_exits_when_hearth_is_killed(tmp_path: Path) -> None:
    """A crash or kill of Hearth must not leave a Chroma server running (holding the store)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "chroma")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert psutil.Process(server_pid).is_running()
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert _gone(server_pid, 15), "the Chroma server outlived a killed Hearth"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_libraries_share_a_users_chroma_server_without_mixing(
    tmp_path: Path, embedder: object
) -> None:
    """A Chroma server elsewhere (Settings › Documents › Vector store): each library keeps its
    own collections there, and removing a document touches only its own vectors."""
    with ChromaProcess(tmp_path / "server-store") as server:
        url, token = f"http://127.0.0.1:{server.port}", server.token
        a = make_library(tmp_path / "a", embedder, vector_store=url, vector_store_token=token)
        b = make_library(tmp_path / "b", embedder, vector_store=url, vector_store_token=token)
        try:
            a.add([pdf_factory.text_pdf(tmp_path / "observatory.pdf", PAGES)])
            a.ingest()
            b.add([pdf_factory.text_pdf(tmp_path / "bakery.pdf", OTHER)])
            b.ingest()
            assert a.vectors.name != b.vectors.name
            assert a.vectors.name.startswith("hearth-") and b.vectors.name.startswith("hearth-")
            names = {c.name for c in server.client.list_collections()}
            assert {a.vectors.name, b.vectors.name} <= names
            # Both libraries number their chunks from 1: same ids, different collections.
            hits = b.search("How many loaves of rye bread?", k=3)
            assert hits and "73 loaves" in hits[0].text
            assert all("observatory" not in h.file for h in hits)
            before_b = b.counts()["vectors"]
            a.remove(a.documents()[0].id)
            assert a.counts()["vectors"] == 0
            assert b.counts()["vectors"] == before_b > 0
        finally:
            a.close()
            b.close()


def test_unreachable_server_is_a_clear_error(tmp_path: Path, embedder: object) -> None:
    lib = make_library(tmp_path / "lib", embedder, vector_store="http://127.0.0.1:9")
    try:
        with pytest.raises(DocumentError, match="does not answer"):
            lib.vectors  # noqa: B018
        assert lib.documents() == []  # the library itself still opens
    finally:
        lib.close()


def test_command_line_uses_the_windows_server_while_it_runs(
    tmp_path: Path, embedder: object
) -> None:
    """The window (Chroma in a child process) and a command on the same library: the command
    goes through the window's server instead of writing the same files from a second process;
    once the window is closed, the command opens the files itself."""
    window = make_library(tmp_path / "lib", embedder, vector_store="process")
    try:
        window.add([pdf_factory.text_pdf(tmp_path / "observatory.pdf", PAGES)])
        window.ingest()
        assert (tmp_path / "lib" / "chroma-server.json").exists()
        cli = make_library(tmp_path / "lib", embedder)
        try:
            cli.client  # noqa: B018
            assert cli.vector_store.mode == "shared server"
            assert cli.vector_store.process is None  # it started no server of its own
            cli.add([pdf_factory.text_pdf(tmp_path / "bakery.pdf", OTHER)])
            cli.ingest()
            hits = window.search("How many loaves of rye bread?", k=2)  # written by the CLI
            assert hits and "73 loaves" in hits[0].text
        finally:
            cli.close()
    finally:
        window.close()
    assert not (tmp_path / "lib" / "chroma-server.json").exists()
    cli = make_library(tmp_path / "lib", embedder)
    try:
        cli.client  # noqa: B018
        assert cli.vector_store.mode == "in-process"
        assert cli.counts()["vectors"] == cli.counts()["embedded"] > 0
    finally:
        cli.close()


# -- one server per store, whichever Hearth process starts it ----------------------------------

HOLDER = """
import sys
from pathlib import Path
from rag.config import LibraryConfig
from rag.library import Library
lib = Library(Path(sys.argv[1]), LibraryConfig(vector_store="process"))
lib.client
proc = lib.vector_store.process
print(lib.vector_store.mode, proc.pid if proc is not None else 0, flush=True)
sys.stdin.read()  # until the test closes our stdin (a clean exit) or kills us
lib.close()
"""


@contextmanager
def _holder(folder: Path) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """Another Hearth process (the window, or a command) with the library's store open: the
    process, how it opened the store and its server's pid (0 when it shares one)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        mode, server_pid = proc.stdout.readline().rsplit(maxsplit=1)
        yield proc, mode, int(server_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _end(proc: subprocess.Popen[str], how: str) -> None:
    if how == "killed":
        proc.kill()
    else:
        assert proc.stdin is not None
        proc.stdin.close()
    proc.wait(timeout=30)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("how", ["closed", "killed"])
def test_a_command_carries_on_when_the_window_closes(
    tmp_path: Path, embedder: object, how: str
) -> None:
    """`hearth docs add` goes through the window's server; the window is closed (or killed)
    half-way: the command notices, starts a server of its own and finishes, with every chunk
    stored once."""
    folder = tmp_path / "lib"
    with _holder(folder) as (window, mode, server_pid):
        assert mode == "own server" and server_pid > 0
        cli = make_library(folder, embedder, vector_store="process", batch_size=4)
        try:
            cli.add([pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(6))])
            cli.add([pdf_factory.text_pdf(tmp_path / "observatory.pdf", PAGES)])
            while cli.store.counts()["embedded"] < 8:
                if not cli.ingest_step().did_work:
                    cli.wait_for_extraction(0.05)
            assert cli.vector_store.mode == "shared server" and cli.vector_store.process is None
            _end(window, how)
            assert _gone(server_pid, 15)
            cli.ingest()  # carries on
            assert cli.vector_store.mode == "own server" and cli.vector_store.process is not None
            counts = cli.counts()
            assert counts["vectors"] == counts["embedded"] == counts["chunks"] > 8
            assert all(d.status == "ready" for d in cli.documents())
            hits = cli.search("When was the telescope made?", k=2)
            assert hits and "1902" in hits[0].text
        finally:
            cli.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_the_window_takes_over_a_finished_commands_server(tmp_path: Path, embedder: object) -> None:
    """The other way round: a command started the server, the window shares it, the command
    ends; the window's next search opens the store itself."""
    folder = tmp_path / "lib"
    with _holder(folder) as (command, mode, server_pid):
        assert mode == "own server"
        window = make_library(folder, embedder, vector_store="process")
        try:
            window.add([pdf_factory.text_pdf(tmp_path / "observatory.pdf", PAGES)])
            window.ingest()
            assert window.vector_store.mode == "shared server"
            _end(command, "closed")
            assert _gone(server_pid, 15)
            hits = window.search("When was the telescope made?", k=2)
            assert hits and "1902" in hits[0].text
            assert window.vector_store.mode == "own server"
        finally:
            window.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_dead_server_of_our_own_is_started_again(tmp_path: Path, embedder: object) -> None:
    lib = make_library(tmp_path / "lib", embedder, vector_store="process")
    try:
        lib.add([pdf_factory.text_pdf(tmp_path / "observatory.pdf", PAGES)])
        lib.ingest()
        first = lib.vector_store.process
        assert first is not None and first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        assert _gone(first.pid, 15)
        hits = lib.search("When was the telescope made?", k=2)
        assert hits and "1902" in hits[0].text
        second = lib.vector_store.process
        assert second is not None and second.alive() and second.pid != first.pid
        assert lib.counts()["vectors"] == lib.counts()["embedded"] > 0
    finally:
        lib.close()


def test_processes_opening_the_store_together_start_one_server(tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(3)
    ]
    try:
        modes = []
        for p in procs:
            assert p.stdout is not None
            modes.append(p.stdout.readline().rsplit(maxsplit=1)[0])
        assert sorted(modes) == ["own server", "shared server", "shared server"]
        servers = [
            c
            for p in procs
            for c in psutil.Process(p.pid).children()
            if "rag.chroma_server" in " ".join(c.cmdline())
        ]
        assert len(servers) == 1
    finally:
        for p in procs:
            if p.poll() is None:
                assert p.stdin is not None
                p.stdin.close()
        for p in procs:
            p.wait(timeout=30)


def _library_on_a_users_server(
    tmp_path: Path, embedder: object
) -> tuple[ChromaProcess, str, Library]:
    """A Chroma server started apart from Hearth (as a user runs one), and a library on it
    with one document indexed."""
    server = ChromaProcess(tmp_path / "server-store")
    url = f"http://127.0.0.1:{server.port}"
    lib = make_library(
        tmp_path / "lib", embedder, vector_store=url, vector_store_token=server.token
    )
    try:
        lib.add([pdf_factory.text_pdf(tmp_path / "observatory.pdf", PAGES)])
        lib.ingest()
    except BaseException:
        lib.close()
        server.close()
        raise
    return server, url, lib


def test_a_users_server_that_stops_is_a_clear_error(tmp_path: Path, embedder: object) -> None:
    """A Chroma server elsewhere is the user's: Hearth does not take it over, it says so."""
    server, url, lib = _library_on_a_users_server(tmp_path, embedder)
    try:
        server.close()
        with pytest.raises(DocumentError, match=f"The Chroma server at {url} stopped answering"):
            lib.search("When was the telescope made?", k=2)
        assert lib.vector_store.mode == "remote server" and lib.vector_store.process is None
        assert [d.status for d in lib.documents()] == ["ready"]
    finally:
        lib.close()
        server.close()


def test_a_users_server_that_hangs_is_a_clear_error_not_a_wait_for_ever(
    tmp_path: Path, embedder: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that keeps the connection open and never answers (here: its process
    suspended with SIGSTOP) ends the request after the read timeout, with the same message as
    a server that went away; Chroma's own client would wait for ever."""
    monkeypatch.setattr(chroma_server, "HTTP_TIMEOUT_S", 2.0)
    server, url, lib = _library_on_a_users_server(tmp_path, embedder)
    try:
        assert lib.search("When was the telescope made?", k=2)
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        # Ends with the error (without a read timeout it would wait for ever, until
        # pytest-timeout stopped the test).
        with pytest.raises(DocumentError, match=f"The Chroma server at {url} stopped answering"):
            lib.search("When was the telescope made?", k=2)
        assert [d.status for d in lib.documents()] == ["ready"]
    finally:
        if server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)
        lib.close()
        server.close()
