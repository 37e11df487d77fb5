"""`hearth docs add|list|rm|reindex|index|refresh|search|eval` and `hearth ask`.

Heavy modules (chromadb, llama_cpp, pypdf) are imported inside the handlers. Progress goes to
stderr; results to stdout (JSON with --json).

The library's files are watched (`rag.watch`): `add`, `list`, `search`, `refresh` and `ask`
look for documents changed, deleted or added to a watched folder first; `search`, `refresh`
and `ask` index what changed before they answer, `list` shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from app.paths import get_paths

if TYPE_CHECKING:
    from rag.library import Library, StepReport
    from rag.retrieve import Hit
    from rag.watch import WatchReport


def register(sub: argparse._SubParsersAction) -> None:
    docs = sub.add_parser("docs", help="the document library: add, list, remove, search")
    dsub = docs.add_subparsers(dest="docs_command", metavar="COMMAND", required=True)

    p = dsub.add_parser("add", help="add files or folders (.pdf .txt .md .rst) and index them")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--no-index", action="store_true", help="only register; index later")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("--force", action="store_true", help="index text files over 20 MB too")
    p.set_defaults(handler=run_add)

    p = dsub.add_parser("index", help="finish indexing documents left queued or interrupted")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(handler=run_index)

    p = dsub.add_parser(
        "refresh", help="index documents changed, deleted or new in watched folders on disk"
    )
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(handler=run_refresh)

    p = dsub.add_parser("list", help="documents in the library with their status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_list)

    p = dsub.add_parser("rm", help="remove documents (by id, name or path) or a watched folder")
    p.add_argument("docs", nargs="+", metavar="DOC")
    p.set_defaults(handler=run_rm)

    p = dsub.add_parser("reindex", help="read and embed documents again")
    p.add_argument("docs", nargs="+", metavar="DOC")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(handler=run_reindex)

    p = dsub.add_parser("search", help="find passages (vector + keyword, fused)")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=None, help="passages to return (default: settings)")
    p.add_argument("--docs", nargs="+", metavar="DOC", help="only these documents")
    p.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_search)

    p = dsub.add_parser("eval", help="retrieval quality (hit@1, hit@5, MRR) on Hearth's eval set")
    p.add_argument("--json", action="store_true")
    p.add_argument("--questions", help="questions JSON (default: the bundled eval set)")
    p.add_argument(
        "--fusion",
        choices=["score", "rrf"],
        default=None,
        help="how hybrid search fuses the two indexes (default: score)",
    )
    p.add_argument("--rrf-k", type=float, default=None, help="RRF's constant (--fusion rrf)")
    p.add_argument("--candidates", type=int, default=None, help="candidates from each index")
    p.add_argument("--chunk-tokens", type=int, default=None)
    p.add_argument("--chunk-overlap", type=int, default=None)
    p.add_argument(
        "--library",
        help="index into this folder and keep it (default: a cache folder keyed by settings)",
    )
    from app.commands.ask import add_eval_arguments

    add_eval_arguments(p)  # --only, --answers, -m
    p.set_defaults(handler=run_eval)

    ask = sub.add_parser("ask", help="answer a question from your documents, citing pages")
    ask.add_argument("question")
    ask.add_argument("--docs", nargs="+", metavar="DOC", help="only these documents")
    ask.add_argument("-k", type=int, default=None, help="passages to retrieve (default: settings)")
    ask.add_argument("--json", action="store_true", help="answer, sources and stats as JSON")
    from app.commands.chat import add_model_arguments  # same options as `hearth chat`

    add_model_arguments(ask)
    ask.add_argument("--stats", action="store_true", help="print generation stats to stderr")
    from app.commands.ask import add_arguments as add_grounding_arguments

    add_grounding_arguments(ask)  # --quotes-only, --plain
    ask.set_defaults(handler=run_ask)


# -- helpers -----------------------------------------------------------------------------------


def open_library(**kwargs: Any) -> Library:
    """The user's library with its embedding model (the default models are prepared on
    first use)."""
    from app.user_library import first_use, open_user_library

    first_use()
    lib = open_user_library(**kwargs)
    note = lib.take_vector_notice()
    if note:
        print(f"hearth: {note}", file=sys.stderr)
    return lib


class ProgressPrinter:
    """One status line on stderr, rewritten at most a few times per second."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, report: StepReport) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if now - self.last < (0.25 if self.tty else 2.0) and report.more:
            return
        self.last = now
        p = report.progress
        parts = [f"{p.ready} ready"]
        if report.elsewhere:
            parts.append(
                "waiting: another Hearth process (the window, or another command) is indexing "
                "these documents; Ctrl+C leaves them to it"
            )
        if p.reading or p.queued:
            parts.append(f"{p.reading + p.queued} reading")
        parts.extend(p.chunk_parts())
        if p.chunks_per_s:
            parts.append(f"{p.chunks_per_s:.0f} chunks/s")
        if p.pages_read:
            parts.append(f"{p.pages_read} pages read")
        if p.eta_s is not None and report.more:
            parts.append(f"~{p.eta_s:.0f} s left")
        if p.failed:
            parts.append(f"{p.failed} failed")
        line = ", ".join(parts)
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line + ("" if report.more else "\n"))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _ingest(lib: Library, quiet: bool) -> None:
    cancel = threading.Event()
    printer = ProgressPrinter(quiet)
    try:
        lib.ingest(cancel=cancel, on_progress=printer)
    except KeyboardInterrupt:
        lib.cancel()
        print("\nstopped: run `hearth docs index` to carry on", file=sys.stderr)
        raise


def _status_text(d: Any) -> str:
    from rag.formats import again_label

    again = again_label(d.status, d.changed)
    if again:
        return again
    if d.status == "indexing":
        return f"indexing {100 * d.progress:.0f}%" if d.chunks else "reading"
    return str(d.status)


def _print_docs(docs: list[Any], folders: list[str] | None = None) -> None:
    if not docs:
        print("The library is empty. Add documents with `hearth docs add PATH`.")
        return
    print(f"{'id':>4}  {'status':<23}{'pages':>6}{'chunks':>8}  file")
    for d in docs:
        print(f"{d.id:>4}  {_status_text(d):<23}{d.pages:>6}{d.chunks:>8}  {d.path}")
        if d.status in ("failed", "ready") and d.message:  # ready: a note, such as no labels
            print(f"{'':>6}{d.message}")
        elif d.status == "missing":
            print(f"{'':>6}The file is not there; its passages are not used until it is back.")
    for folder in folders or []:
        print(f"watching {folder} for new files")


def _check(lib: Library, quiet: bool = False) -> WatchReport:
    """Look for documents changed on disk (`Library.check_files`); say what was found on
    stderr."""
    report = lib.check_files()
    note = lib.take_vector_notice()  # the vectors were changed outside Hearth: rebuilt
    if note:
        print(f"hearth: {note}", file=sys.stderr)
    found = [
        f"{len(ids)} {what}"
        for ids, what in (
            (report.changed, "changed"),
            (report.missing, "missing"),
            (report.back, "back"),
            (report.added, "new in watched folders"),
        )
        if ids
    ]
    if found and not quiet:
        print(f"documents on disk: {', '.join(found)}", file=sys.stderr)
    return report


def _warn_unfinished(lib: Library) -> None:
    waiting = [d for d in lib.documents() if d.status in ("queued", "indexing")]
    if waiting and all(d.rereading and not d.old_text_hidden for d in waiting):
        print(
            f"note: this version of Hearth reads {len(waiting)} document(s) again to label "
            "their citations or clean their pages better (they answer meanwhile); "
            "`hearth docs index` does it now",
            file=sys.stderr,
        )
    elif waiting:
        print(
            f"note: {len(waiting)} document(s) not fully indexed yet; "
            "run `hearth docs index` to finish",
            file=sys.stderr,
        )


def _doc_ids(lib: Library, refs: list[str] | None) -> list[int] | None:
    if not refs:
        return None
    return [lib.resolve(r).id for r in refs]


def _k(args: argparse.Namespace) -> int:
    if args.k is not None:
        return int(args.k)
    from app.settings import Settings

    return Settings.load(get_paths().settings_file).rag_top_k


# -- handlers ----------------------------------------------------------------------------------


def run_add(args: argparse.Namespace) -> int:
    from app.text_size import describe, large_text_files, passages_per_second
    from rag.formats import skipped_files, skipped_summary

    large = large_text_files(args.paths)
    if large and not args.force:  # hours of embedding: asked first (app.text_size)
        said = describe(large, passages_per_second(get_paths().models))
        print(f"{said}\nNothing was added: add --force to index them anyway.", file=sys.stderr)
        return 2
    with open_library() as lib:
        _check(lib, args.quiet)
        rows = lib.add(args.paths)
        skipped = skipped_files(args.paths, given_files=False)  # given ones: listed as failed
        if skipped:
            print(f"hearth: {skipped_summary(skipped)}", file=sys.stderr)
        if not args.no_index:
            _ingest(lib, args.quiet)
        wanted = {r.id for r in rows}
        docs = [d for d in lib.documents() if d.id in wanted]
        _print_docs(docs)
        return 1 if any(d.status == "failed" for d in docs) else 0


def run_index(args: argparse.Namespace) -> int:
    with open_library() as lib:
        _ingest(lib, args.quiet)
        _print_docs(lib.documents())
    return 0


def run_list(args: argparse.Namespace) -> int:
    from app.user_library import open_user_library

    # Listing needs no model: open the store only (Chroma only to finish an interrupted
    # removal, where the settings keep the vectors).
    lib = open_user_library(with_model=False)
    try:
        report = _check(lib, args.json)
        docs = lib.documents()
        if args.json:
            print(json.dumps([d.as_dict() for d in docs], indent=2))
        else:
            _print_docs(docs, lib.folders())
        if report.needs_indexing:
            print("run `hearth docs refresh` to index them now", file=sys.stderr)
    finally:
        lib.close()
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    with open_library() as lib:
        _check(lib, args.quiet)
        _ingest(lib, args.quiet)
        _print_docs(lib.documents(), lib.folders())
    return 0


def run_rm(args: argparse.Namespace) -> int:
    from app.user_library import open_user_library

    # No embedding model needed; the vectors are removed where the settings keep them.
    lib = open_user_library(with_model=False)
    try:
        folders = set(lib.folders())
        watched = [r for r in args.docs if os.path.abspath(os.path.expanduser(r)) in folders]
        targets = [lib.resolve(r) for r in args.docs if r not in watched]
        for folder in watched:
            for d in lib.remove_folder(folder):
                print(f"removed {d.id}: {d.path}", file=sys.stderr)
            print(f"stopped watching {os.path.abspath(folder)}", file=sys.stderr)
        for d in targets:
            lib.remove(d.id)
            print(f"removed {d.id}: {d.path}", file=sys.stderr)
    finally:
        lib.close()
    return 0


def run_reindex(args: argparse.Namespace) -> int:
    with open_library() as lib:
        for ref in args.docs:
            lib.reindex(lib.resolve(ref).id)
        _ingest(lib, args.quiet)
        _print_docs(lib.documents())
    return 0


def _print_hits(hits: list[Hit]) -> None:
    if not hits:
        print("No passages found.")
        return
    for i, h in enumerate(hits, start=1):
        print(f"[{i}] {h.file}, {h.pages_label()}  (score {h.score:.4f})")
        text = " ".join(h.text.split())
        print("    " + (text[:400] + ("…" if len(text) > 400 else "")))


def _refresh_before_answering(lib: Library) -> None:
    """Changed or new files are indexed before a search, so that it answers from what the
    files say now (a changed file's old text is not searched; `list` may have found it);
    else a note if indexing was left unfinished."""
    found = _check(lib).needs_indexing
    if found or any(d.old_text_hidden for d in lib.documents()):
        _ingest(lib, quiet=False)
    else:
        _warn_unfinished(lib)


def run_search(args: argparse.Namespace) -> int:
    with open_library() as lib:
        _refresh_before_answering(lib)
        hits = lib.search(args.query, k=_k(args), doc_ids=_doc_ids(lib, args.docs), mode=args.mode)
    if args.json:
        print(json.dumps([h.as_dict() for h in hits], indent=2, ensure_ascii=False))
    else:
        _print_hits(hits)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from app.settings import Settings
    from app.user_library import embedding_model_path, first_use
    from rag.evaluate import format_table, run_default_eval

    paths = get_paths()
    settings = Settings.load(paths.settings_file)
    first_use(paths.models)
    report = run_default_eval(
        embedding_model_path(settings, paths.models),
        paths.cache,
        chunk_tokens=args.chunk_tokens or settings.chunk_tokens,
        chunk_overlap=(
            args.chunk_overlap if args.chunk_overlap is not None else settings.chunk_overlap
        ),
        questions_path=args.questions,
        library_dir=args.library,
        fusion=args.fusion,
        rrf_k=args.rrf_k,
        candidates=args.candidates,
        log=lambda msg: print(msg, file=sys.stderr),
        only=args.only or (),
        answers=_answer_eval(args, settings) if args.answers is not None else None,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
        if "answers" in report:
            from rag.answer_eval import format_answers

            print(format_answers(report["answers"]))
    return 0


def _answer_eval(args: argparse.Namespace, settings: Any) -> Any:
    """The answer evaluation (rag.answer_eval) with the chat model the options choose."""

    def run(lib: Library, questions: list, files: dict) -> dict[str, Any]:
        from app.commands.chat import open_engine
        from rag.answer_eval import evaluate_answers

        for name in ("ctx", "threads", "gpu_layers", "server"):
            setattr(args, name, getattr(args, name, None))
        engine = None if args.quotes_only else open_engine(args, settings)
        try:
            ways = args.answers or ["plain", "grounded"]
            say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
            return evaluate_answers(lib, questions, files, engine, ways, log=say)
        finally:
            if engine is not None:
                engine.close()

    return run


def run_ask(args: argparse.Namespace) -> int:
    from app.commands.chat import (
        model_settings,
        open_engine,
        print_stats,
        sampling_from,
        stream_answer,
    )
    from engine.errors import InvalidRequestError
    from engine.types import ChatMessage
    from rag.retrieve import format_sources, to_passages

    question = args.question.strip()
    if not question:
        raise InvalidRequestError("The question is empty.")
    asked = time.perf_counter()
    settings = model_settings(args)
    with open_library() as lib:
        _refresh_before_answering(lib)
        if not any(d.answers for d in lib.documents()):
            raise InvalidRequestError(
                "The document library is empty. Add documents with `hearth docs add PATH`."
            )
        hits = lib.search(question, k=_k(args), doc_ids=_doc_ids(lib, args.docs))
    if not args.plain:  # grounded: quotes, then a checked sentence (app/commands/ask.py)
        from app.commands.ask import run_grounded

        return run_grounded(args, settings, hits, asked)
    # The embedding model is closed before the chat model loads.
    engine = open_engine(args, settings)
    try:
        messages = []
        if settings.system_prompt:
            messages.append(ChatMessage("system", settings.system_prompt))
        messages.append(ChatMessage("user", question))
        out = sys.stderr if args.json else sys.stdout
        answer, stats = stream_answer(
            engine, messages, sampling_from(args, settings), out=out, passages=to_passages(hits)
        )
    finally:
        engine.close()
    used = hits[: stats.passages_used]
    if args.json:
        print(
            json.dumps(
                {
                    "answer": answer,
                    "sources": [h.as_dict() for h in used],
                    "retrieved": len(hits),
                    "stats": stats.as_dict(),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print()
    if used:
        print("\nSources:")
        for line in format_sources(used):
            print(line)
    elif hits:
        print("\n(No passage fitted in the model's context; the answer does not use them.)")
    else:
        print("\n(No passage in the library matched the question.)")
    if stats.passages_used < len(hits):
        print(
            f"({len(hits) - stats.passages_used} more passages were found but did not fit.)",
            file=sys.stderr,
        )
    if getattr(args, "stats", False):
        print_stats(stats)
    return 0
