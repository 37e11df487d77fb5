"""Watched documents: the files in a library are looked at again for changes, cheaply.

`check_files` runs on the library's thread (the window's documents thread while it is idle,
every `app.docs_worker.WATCH_MS`; the command line on `hearth docs add|list|search|refresh` and
`hearth ask`). For each document it compares the file's size and modification time with the
stored ones; only when they differ does it hash the file and compare with the stored sha256
(a file touched but not changed stays as it is). Then:

- changed: queued to be read again, flagged `changed` until it is ready (its old chunks are
  not searched meanwhile: `Store.hidden_document_ids`); ingestion replaces its chunks;
- gone: marked "missing": kept in the list, its chunks kept but not searched;
- back (a missing file that reappears): the same content is ready again at once (or carries on
  embedding); other content is indexed again as a changed file;
- new files in a folder that was added to the library (`Store.folders`) are added, except
  those the user removed from the library (`Store.ignored_files`).

Documents being read right now (`busy`) are left to ingestion, which hashes what it reads.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from rag.extraction import sha256_of
from rag.formats import CHANGED_ON_DISK, supported_files
from rag.index import DocRow, Store


@dataclass
class WatchReport:
    """What one look found (document ids)."""

    changed: list[int] = field(default_factory=list)  # queued again: new content
    missing: list[int] = field(default_factory=list)  # the file is gone
    back: list[int] = field(default_factory=list)  # a missing file reappeared
    added: list[int] = field(default_factory=list)  # new files in watched folders

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.back or self.added)

    @property
    def needs_indexing(self) -> bool:
        """Something was queued: changed or new files (a file that came back unchanged is
        ready at once, or its remaining chunks are queued through its status)."""
        return bool(self.changed or self.added or self.back)


def check_files(store: Store, busy: Collection[int] = ()) -> WatchReport:
    """Look at every document's file and every watched folder once (see the module
    docstring); the store is updated, and the report says what changed."""
    report = WatchReport()
    docs = store.documents()
    for doc in docs:
        if doc.id in busy or doc.status == "removing":
            continue
        try:
            st = os.stat(doc.path)
        except FileNotFoundError:
            _gone(store, doc, report)
            continue
        except OSError:
            continue  # unreadable for now (permissions, a disk being mounted): look again later
        if doc.status == "missing":
            _back(store, doc, st, report)
        elif doc.status in ("ready", "failed") and moved(doc, st):
            _compare(store, doc, st, report)
        # queued or indexing: ingestion reads (and hashes) the file as it is now
    _new_in_folders(store, {d.path for d in docs}, report)
    return report


def moved(doc: DocRow, st: os.stat_result) -> bool:
    """Size or modification time differ from when the document was indexed."""
    return doc.size != st.st_size or doc.mtime != st.st_mtime


def _same_content(doc: DocRow, path: str) -> bool:
    if not doc.sha256:
        return False  # never indexed (failed, or interrupted): read it again
    try:
        return sha256_of(Path(path)) == doc.sha256
    except OSError:
        return False


def _gone(store: Store, doc: DocRow, report: WatchReport) -> None:
    if doc.status == "missing":
        return
    store.update_document(doc.id, status="missing", changed=0, progress=0.0)
    report.missing.append(doc.id)


def _compare(store: Store, doc: DocRow, st: os.stat_result, report: WatchReport) -> None:
    if _same_content(doc, doc.path):  # touched, not changed
        store.update_document(doc.id, size=st.st_size, mtime=st.st_mtime)
        return
    _requeue(store, doc, st)
    report.changed.append(doc.id)


def _back(store: Store, doc: DocRow, st: os.stat_result, report: WatchReport) -> None:
    if not moved(doc, st) or _same_content(doc, doc.path):
        if doc.chunks and doc.sha256:  # the stored chunks are this file's: no reading
            status = "ready" if doc.embedded >= doc.chunks else "indexing"
            store.update_document(doc.id, status=status, size=st.st_size, mtime=st.st_mtime)
        else:
            _requeue(store, doc, st, changed=0)
        report.back.append(doc.id)
        return
    _requeue(store, doc, st)
    report.changed.append(doc.id)


def _requeue(store: Store, doc: DocRow, st: os.stat_result, changed: int = CHANGED_ON_DISK) -> None:
    store.update_document(
        doc.id,
        status="queued",
        changed=changed,
        size=st.st_size,
        mtime=st.st_mtime,
        message="",
        progress=0.0,
    )


def _new_in_folders(store: Store, known: set[str], report: WatchReport) -> None:
    folders = store.folders()
    if not folders:
        return
    known = known | store.ignored_files()
    for folder in folders:
        if not os.path.isdir(folder):
            continue  # its documents are marked missing one by one
        for f in supported_files(Path(folder)):
            path = os.path.abspath(f)
            if path in known:
                continue
            try:
                st = f.stat()
            except OSError:
                continue
            report.added.append(store.insert_document(path, f.name, st.st_size, st.st_mtime))
            known.add(path)
