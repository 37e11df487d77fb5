"""Retrieval quality: hit@1, hit@5 and MRR@10 for vector-only, keyword-only and hybrid search.

A question hits at rank r when the r-th retrieved passage comes from the question's file and
its page range contains one of the answer pages, or covers one of the question's `also`
pages: pages of another file of the set that answer it as well (the R reference manual
documents the functions that An Introduction to R teaches). Every report also gives the
strict numbers, which count only the pages each question was written from. The questions
(resources/eval/questions.json) name real manuals installed by Debian packages (see
tests/data_files.py).

`hearth docs eval` indexes those files once into a cache folder keyed by the embedding model
and chunking settings, then runs every question in every mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from engine.errors import DocumentError
from rag.config import LibraryConfig
from rag.library import Library
from rag.retrieve import Hit, Mode

# "fused": hybrid search without the sentence-level re-scoring (rag.evidence), as Hearth
# ranked before it; "hybrid" is the default, with it.
MODES: tuple[str, ...] = ("vector", "keyword", "fused", "hybrid")
SPLITS = ("dev", "heldout", "ood")
DEPTH = 10  # passages retrieved per question (MRR@10; hit@1 and hit@5 are prefixes)

# Where the eval set's files are installed (Debian 12 packages, see tests/data-packages.txt),
# for when the repository's tests/data_files.py is not importable (an installed Hearth).
KNOWN_LOCATIONS = {
    "r-doc-pdf": "/usr/share/R/doc/manual",
    "glpk-doc": "/usr/share/doc/glpk-doc",
    "gnuplot-doc": "/usr/share/doc/gnuplot",
    "libtasn1-doc": "/usr/share/doc/libtasn1-doc",
    "shared-mime-info": "/usr/share/doc/shared-mime-info",
}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    file: str  # file id as in questions.json ("<package>/<file name>") or a path
    pages: tuple[int, ...]  # 1-based answer pages
    # other (file, pages) that answer it too, each checked by reading (questions.json "also")
    also: tuple[tuple[str, tuple[int, ...]], ...] = ()
    key: str = ""  # the answer's key phrase, taken from the page (the answer evaluation)
    # "dev" (methods were tuned on it), "heldout" (checked on it), "ood" (written afterwards,
    # over a manual no method was tuned on: resources/eval/README.md)
    split: str = "dev"
    covered: bool = True  # False: the documents do not answer it (the answer must abstain)


def _read(path: Path | None) -> Any:
    if path is None:
        ref = resources.files("resources").joinpath("eval/questions.json")
        return json.loads(ref.read_text(encoding="utf-8"))
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DocumentError(
            f"The question set {path} cannot be read ({exc.strerror or exc}).", str(exc)
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise DocumentError(
            f"The question set {path} is not valid JSON: {exc}.", repr(exc)
        ) from exc


def declared_paths(path: Path | None = None) -> dict[str, str]:
    """File id -> path as declared in the questions file's "files" table (if any); a relative
    path is taken from the question set's folder."""
    raw = _read(path)
    files = raw.get("files", {}) if isinstance(raw, dict) else {}
    out = {}
    for k, v in files.items() if isinstance(files, dict) else ():
        declared = str(v.get("path", "")) if isinstance(v, dict) else ""
        if declared and path is not None and not Path(declared).is_absolute():
            declared = str(Path(path).parent / declared)
        out[str(k)] = declared
    return out


def load_questions(path: Path | None = None) -> list[Question]:
    """Questions from a JSON file: a list (or {"questions": [...]}) of objects with
    "question", "file" and "pages" (or "page")."""
    raw = _read(path)
    items = raw.get("questions", []) if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise DocumentError('The evaluation set\'s "questions" is not a list.')
    out = [_question(i, item) for i, item in enumerate(items)]
    if not out:
        raise DocumentError("The evaluation set has no questions.")
    return out


class _Malformed(ValueError):
    pass


def _question(i: int, item: Any) -> Question:
    """One entry of a question set, or DocumentError saying what is wrong with it."""
    qid = str(item.get("id", i + 1)) if isinstance(item, dict) else str(i + 1)
    try:
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            raise _Malformed("it has no question text")
        covered = bool(item.get("covered", True))
        if covered and not item.get("file"):
            raise _Malformed('it names no "file" (a covered question names the file that answers)')
        pages = item.get("pages", item.get("answer_pages", item.get("page")))
        if isinstance(pages, int):
            pages = [pages]
        also = tuple(
            (str(a["file"]), tuple(int(p) for p in a["pages"])) for a in item.get("also", ())
        )
        return Question(
            id=qid,
            question=str(item["question"]),
            file=str(item.get("file") or ""),
            pages=tuple(int(p) for p in pages or ()),
            also=also,
            key=str(item.get("key", "")),
            split=str(item.get("split", "dev")),
            covered=covered,
        )
    except (KeyError, TypeError, ValueError) as exc:
        why = str(exc) if isinstance(exc, _Malformed) else f"a field is malformed ({exc!r})"
        raise DocumentError(f"Question {qid} of the evaluation set: {why}.", repr(item)) from exc


def select_questions(questions: Sequence[Question], only: Sequence[str]) -> list[Question]:
    """The covered questions whose file id holds one of `only`, and the uncovered questions of
    the splits those belong to: each split's uncovered questions were checked against its own
    manuals (the out-of-sample split's "How do I change the colour theme of my terminal?"
    is not covered by the Bash manual; gnuplot's manual speaks of terminals and colours)."""
    covered = [q for q in questions if q.covered and any(o in q.file for o in only)]
    splits = {q.split for q in covered}
    return [q for q in questions if q in covered or (not q.covered and q.split in splits)]


def resolve_file(file_id: str, declared: str = "") -> Path:
    """A questions.json file id to an installed path: the question set's own path for it
    (`declared`), else an installed manual."""
    for candidate in (declared, file_id):
        direct = Path(candidate) if candidate else None
        if direct is not None and direct.is_absolute() and direct.is_file():
            return direct
    if declared:
        raise DocumentError(
            f"The evaluation file {file_id}: {declared} does not exist (its path in the "
            'question set\'s "files").',
            declared,
        )
    try:
        from data_files import resolve_eval_file  # the repository's tests/ folder

        return Path(resolve_eval_file(file_id))
    except ImportError:
        pass
    package, _, name = file_id.partition("/")
    guess = Path(KNOWN_LOCATIONS.get(package, "/nonexistent")) / name
    if guess.is_file():
        return guess
    if package not in KNOWN_LOCATIONS:
        raise DocumentError(
            f'The evaluation file {file_id} is not in the question set\'s "files" (with its '
            "path) and is no manual Hearth knows.",
            file_id,
        )
    raise DocumentError(
        f"The evaluation file {file_id} is not installed (Debian package {package}).",
        str(guess),
    )


def first_hit_rank(
    hits: Sequence[Hit],
    path: Path,
    pages: Sequence[int],
    also: Sequence[tuple[Path, Sequence[int]]] = (),
) -> int | None:
    """1-based rank of the first passage from `path` covering an answer page (or from one of
    the `also` files covering one of its pages), or None."""
    targets = [(str(path), pages), *((str(f), ps) for f, ps in also)]
    for rank, h in enumerate(hits, start=1):
        if any(h.file == f and any(h.covers_page(p) for p in ps) for f, ps in targets):
            return rank
    return None


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "hit@1": sum(1 for r in ranks if r is not None and r <= 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / n,
    }


def evaluate(
    lib: Library, questions: Sequence[Question], files: dict[str, Path], depth: int = DEPTH
) -> dict[str, Any]:
    """Run every question in every mode against a library that holds `files`.

    "modes" counts a hit on any page that answers (the question's own pages and its `also`
    pages in files of the library); "strict" only the question's own pages."""
    questions = [q for q in questions if q.covered]
    modes: dict[str, Any] = {}
    strict_modes: dict[str, Any] = {}
    splits: dict[str, Any] = {split: {} for split in SPLITS}
    per_question: list[dict[str, Any]] = [
        {"id": q.id, "question": q.question, "file": q.file, "split": q.split} for q in questions
    ]
    latency: dict[str, float] = {}
    config = lib.searcher.config
    for mode in MODES:
        ranks: list[int | None] = []
        strict: list[int | None] = []
        lib.searcher.config = replace(config, sentences=mode != "fused")
        search_mode: Mode = "hybrid" if mode == "fused" else mode  # type: ignore[assignment]
        t0 = time.perf_counter()
        for q in questions:
            hits = lib.search(q.question, k=depth, mode=search_mode)
            also = [(files[f], ps) for f, ps in q.also if f in files]
            ranks.append(first_hit_rank(hits, files[q.file], q.pages, also))
            strict.append(first_hit_rank(hits, files[q.file], q.pages))
        latency[mode] = (time.perf_counter() - t0) / max(len(questions), 1)
        modes[mode] = {k: round(v, 4) for k, v in metrics(ranks).items()}
        strict_modes[mode] = {k: round(v, 4) for k, v in metrics(strict).items()}
        for entry, r, r_strict in zip(per_question, ranks, strict, strict=True):
            entry[f"rank_{mode}"] = r
            entry[f"rank_{mode}_strict"] = r_strict
        for split in SPLITS:
            part = [r for r, q in zip(ranks, questions, strict=True) if q.split == split]
            splits[split][mode] = {k: round(v, 4) for k, v in metrics(part).items()}
            splits[split]["questions"] = len(part)
    lib.searcher.config = config
    splits = {name: part for name, part in splits.items() if part.get("questions")}
    return {
        "questions": len(questions),
        "questions_with_also": sum(1 for q in questions if any(f in files for f, _ in q.also)),
        "depth": depth,
        "modes": modes,
        "strict": strict_modes,
        "splits": splits,
        "mean_query_ms": {m: round(1000 * s, 1) for m, s in latency.items()},
        "per_question": per_question,
    }


def run_default_eval(
    model_path: Path,
    cache_dir: Path,
    chunk_tokens: int,
    chunk_overlap: int,
    questions_path: str | None = None,
    library_dir: str | None = None,
    fusion: str | None = None,
    rrf_k: float | None = None,
    candidates: int | None = None,
    log: Callable[[str], None] | None = None,
    only: Sequence[str] = (),
    answers: Callable[[Library, list[Question], dict[str, Path]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`hearth docs eval`: index the eval files (once, cached in `cache_dir/eval-library`, keyed
    by model and chunking) with the embedding model at `model_path`, and evaluate. `only`:
    keep the questions whose file id holds one of these strings (`select_questions`);
    `answers`: also evaluate answers (`rag.answer_eval`), reported under "answers"."""
    say = log or (lambda _msg: None)
    questions = load_questions(Path(questions_path) if questions_path else None)
    if only:
        questions = select_questions(questions, only)
    embed_threads = 1 if (os.cpu_count() or 1) <= 2 else 0
    file_ids = sorted({q.file for q in questions if q.covered})
    qpath = Path(questions_path) if questions_path else None
    declared = declared_paths(qpath)
    files = {fid: resolve_file(fid, declared.get(fid, "")) for fid in file_ids}
    key = hashlib.sha256(
        json.dumps([Path(model_path).name, chunk_tokens, chunk_overlap, file_ids]).encode()
    ).hexdigest()[:12]
    folder = Path(library_dir) if library_dir else Path(cache_dir) / "eval-library" / key
    kwargs: dict[str, Any] = {"chunk_tokens": chunk_tokens, "chunk_overlap": chunk_overlap}
    if fusion is not None:
        kwargs["fusion"] = fusion
    if rrf_k is not None:
        kwargs["rrf_k"] = rrf_k
    if candidates is not None:
        kwargs["candidates"] = candidates
    config = LibraryConfig(
        embedding_model=Path(model_path),
        embed_threads=embed_threads,
        extract_timeout_s=3600.0,  # the 2,415-page reference manual, on a busy machine
        **kwargs,
    )
    lib = Library(folder, config)
    try:
        _index(lib, list(files.values()), folder, say)
        failed = {d.name: d.message or d.status for d in lib.documents() if d.status != "ready"}
        for name, why in failed.items():
            say(f"warning: {name} is not indexed ({why}); its questions count as misses")
        report = evaluate(lib, questions, files)
        if answers is not None:
            report["answers"] = answers(lib, questions, files)
        report["failed_files"] = failed
        counts = lib.store.counts()
        report["library"] = {
            "folder": str(folder),
            "documents": counts["documents"],
            "chunks": counts["chunks"],
            "embedding_model": Path(model_path).name,
        }
        report["params"] = {
            "chunk_tokens": chunk_tokens,
            "chunk_overlap": chunk_overlap,
            "fusion": config.fusion,
            "rrf_k": config.rrf_k,
            "candidates": config.candidates,
            "merge_max_chunks": config.merge_max_chunks,
        }
        return report
    finally:
        lib.close()


def _index(lib: Library, files: list[Path], folder: Path, say: Callable[[str], None]) -> None:
    """Index the evaluation files, once (a library that holds them already is kept)."""
    lib.add(files)
    if not lib.has_work():
        return
    say(f"indexing {len(files)} evaluation files into {folder} (once)")
    t0 = time.monotonic()
    last = [0.0]

    def progress(report: Any) -> None:
        now = time.monotonic()
        if now - last[0] > 10:
            last[0] = now
            p = report.progress
            say(f"  {p.chunks_done}/{p.chunks_total} chunks, {p.ready} files ready")

    lib.ingest(on_progress=progress)
    say(f"indexed in {time.monotonic() - t0:.0f} s")


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['questions']} questions, {report['library']['chunks']} chunks in "
        f"{report['library']['documents']} files ({report['library']['embedding_model']})",
        f"{'mode':<10}{'hit@1':>8}{'hit@5':>8}{'MRR@10':>8}{'ms/query':>10}",
    ]
    for mode in MODES:
        m = report["modes"][mode]
        lines.append(
            f"{mode:<10}{m['hit@1']:>8.3f}{m['hit@5']:>8.3f}{m['mrr']:>8.3f}"
            f"{report['mean_query_ms'][mode]:>10.1f}"
        )
    for split, per_mode in report.get("splits", {}).items():
        for mode in ("fused", "hybrid"):
            m = per_mode.get(mode)
            if m:
                lines.append(
                    f"  {split} ({per_mode['questions']}) {mode:<7}"
                    f"{m['hit@1']:>8.3f}{m['hit@5']:>8.3f}{m['mrr']:>8.3f}"
                )
    if report.get("questions_with_also"):
        lines.append(
            f"strict (only the page each question was written from; {report['questions_with_also']}"
            " questions also have answer pages in another file):"
        )
        for mode in MODES:
            m = report["strict"][mode]
            lines.append(f"{mode:<10}{m['hit@1']:>8.3f}{m['hit@5']:>8.3f}{m['mrr']:>8.3f}")
    for name, why in report.get("failed_files", {}).items():
        lines.append(f"not indexed: {name} ({why})")
    misses = [q for q in report["per_question"] if not (q.get("rank_hybrid") or 99) <= 5]
    if misses:
        lines.append("hybrid misses (not in top 5):")
        for q in misses:
            lines.append(f"  {q['id']}: {q['question']} ({q['file']})")
    return "\n".join(lines)
