"""rag.embedding_model: the default embedding model is converted in both weight types, timed
on this machine, and the fastest kept with its measurements (real conversion, real llama.cpp)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from engine.catalog import LEGACY_MINILM_GGUF, MINILM_GGUF, ensure_embedding_model
from engine.gguf_file import read_header
from engine.runtime import cpu_name
from rag import embedding_model
from rag.embedder import Embedder, read_tuning, tuning_path
from rag.embedding_model import PACKINGS, prepare_default


def test_prepared_model_is_the_fastest_trial_and_says_so(minilm_gguf: Path) -> None:
    record = read_tuning(minilm_gguf)
    assert record is not None, "the session's model was prepared by prepare_default"
    assert record["cpu"] == cpu_name()
    assert record["file_size"] == minilm_gguf.stat().st_size
    trials = record["trials"]
    assert {(t["outtype"], t["pack_tokens"]) for t in trials} == {
        (o, p) for o in ("f16", "f32") for p in PACKINGS
    }
    assert all(t["chunks_per_s"] > 0 for t in trials)
    best = max(trials, key=lambda t: t["chunks_per_s"])
    assert (record["outtype"], record["pack_tokens"]) == (best["outtype"], best["pack_tokens"])
    # The kept file really is that weight type (F32 = file type 0, F16 = 1).
    assert (
        read_header(minilm_gguf).get("general.file_type") == {"f32": 0, "f16": 1}[record["outtype"]]
    )
    # No candidate is left behind in the models folder.
    assert not [p for p in minilm_gguf.parent.glob(".*.gguf")]
    with Embedder(minilm_gguf, n_threads=1) as emb:
        assert emb.pack_tokens == max(1, record["pack_tokens"])


def test_record_only_counts_for_the_same_file_on_the_same_cpu(
    minilm_gguf: Path, tmp_path: Path
) -> None:
    copy = tmp_path / minilm_gguf.name
    shutil.copyfile(minilm_gguf, copy)
    record = json.loads(tuning_path(minilm_gguf).read_text())
    record["pack_tokens"] = 7
    tuning_path(copy).write_text(json.dumps(record))
    with Embedder(copy, n_threads=1) as emb:
        assert emb.pack_tokens == 7
    for field, value in (("cpu", "another CPU"), ("file_size", 1)):
        tuning_path(copy).write_text(json.dumps({**record, field: value}))
        assert read_tuning(copy) is None
        with Embedder(copy, n_threads=1) as emb:
            assert emb.pack_tokens == 512  # the default, not the other machine's choice
    with Embedder(copy, n_threads=1, pack_tokens=64) as emb:
        assert emb.pack_tokens == 64  # an explicit packing wins


def test_timing_interleaves_the_candidates(tmp_path: Path, monkeypatch) -> None:
    """Every round times every weight type and packing once, in turn: a burst of load from
    another program then slows each candidate a little, not one of them a lot (which could
    make the slower type win)."""
    from engine.catalog import minilm_source_dir
    from engine.convert import convert_checkpoint

    src = minilm_source_dir()
    assert src is not None
    paths = {
        t: convert_checkpoint(src, tmp_path / f"m-{t}.gguf", outtype=t) for t in ("f16", "f32")
    }
    monkeypatch.setattr(embedding_model, "SAMPLE_CHUNKS", 3)  # a quick sample
    timed: list[tuple[str, int]] = []
    real_embed = Embedder.embed

    def embed(self: Embedder, texts: list[str]) -> np.ndarray:
        if len(texts) == 3:  # a timed pass (warm-ups embed two texts)
            timed.append((self.path.name, self.pack_tokens))
        return real_embed(self, texts)

    monkeypatch.setattr(Embedder, "embed", embed)
    trials = embedding_model.time_models(paths)
    one_round = [(f"m-{t}.gguf", p) for t in ("f16", "f32") for p in PACKINGS]
    assert timed == one_round * embedding_model.ROUNDS
    assert {(t.outtype, t.pack_tokens) for t in trials} == {
        (t, p) for t in ("f16", "f32") for p in PACKINGS
    }
    assert all(t.chunks_per_s > 0 for t in trials)


def test_single_weight_type_needs_no_timing(tmp_path: Path) -> None:
    from engine.catalog import minilm_source_dir

    src = minilm_source_dir()
    assert src is not None
    out = prepare_default(src, tmp_path / MINILM_GGUF, outtypes=("f32",))
    record = read_tuning(out)
    assert record is not None and record["outtype"] == "f32" and record["trials"] == []
    with Embedder(out, n_threads=1) as emb:
        v = emb.embed(["a lighthouse", "a lamp that shines at night"])
    assert v.shape == (2, 384) and np.isfinite(v).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MINILM_GGUF, tuning_path(out).name]
    )


def test_ensure_replaces_the_older_f16_file_once(minilm_gguf: Path, tmp_path: Path) -> None:
    legacy = tmp_path / LEGACY_MINILM_GGUF
    shutil.copyfile(minilm_gguf, legacy)
    calls: list[Path] = []

    def prepare(src: Path, out: Path) -> Path:  # stands in for the conversion tested above
        calls.append(out)
        shutil.copyfile(minilm_gguf, out)
        return out

    out = ensure_embedding_model(tmp_path, prepare)
    assert out == tmp_path / MINILM_GGUF and out.exists()
    assert not legacy.exists()
    assert ensure_embedding_model(tmp_path, prepare) == out
    assert calls == [out]  # already there: not made again
    ensure_embedding_model(tmp_path, prepare, force=True)  # `hearth setup --retune`
    assert len(calls) == 2


def test_candidates_left_by_a_killed_preparation_are_removed(tmp_path: Path) -> None:
    import os
    import time

    from rag.embedding_model import remove_stale_candidates

    out = tmp_path / MINILM_GGUF
    old = tmp_path / f".{out.stem}.f32.0123456789ab.gguf"
    part = tmp_path / f".{old.name}.k2j3h4.part"  # the converter's file, mid-write
    fresh = tmp_path / f".{out.stem}.f16.ba9876543210.gguf"  # another process, preparing now
    other = tmp_path / ".some-other-model.f16.0123456789ab.gguf"
    for p in (old, part, fresh, other):
        p.write_bytes(b"GGUF")
    hours_ago = time.time() - 2 * 3600
    for p in (old, part, other):
        os.utime(p, (hours_ago, hours_ago))
    assert sorted(remove_stale_candidates(out)) == sorted([old, part])
    assert not old.exists() and not part.exists() and fresh.exists() and other.exists()
