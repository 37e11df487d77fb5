"""The default embedding model, prepared for this machine.

all-MiniLM-L6-v2 ships as safetensors; Hearth's converter turns it into GGUF on first use.
Which GGUF runs fastest depends on the CPU, and by a lot (`hearth bench embed`, 2 cores):

- on an AMD EPYC VM (AVX2), F32 weights embed about 1.7 times as fast as F16 (converting F16
  to F32 inside llama.cpp's matrix kernels is slow there), and one chunk per llama.cpp call
  beats packing several (attention over a packed batch grows with its square);
- on an Intel VM, F16 was about 1.2 times as fast as F32.

So the first preparation converts both, times each on chunks of Hearth's own chunk size with
two packings (in interleaved rounds, some seconds, once), keeps the fastest file under the
default name and records the measurements beside it (`<model>.gguf.tuning.json`). `Embedder`
reads the recorded packing when it is not told one. The record is tied to the file's size and
to this CPU: on another machine (a copied data folder) the packing falls back to the default,
and `hearth setup --retune` measures again.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.convert import convert_checkpoint
from engine.runtime import cpu_name
from rag.embedder import Embedder, read_tuning, tuning_path

log = logging.getLogger(__name__)

OUTTYPES = ("f16", "f32")
PACKINGS = (1, 512)  # tokens packed per call: 1 = one chunk per call
SAMPLE_CHUNKS = 12
SAMPLE_TOKENS = 128  # rag.config.CHUNK_TOKENS: what the documents thread embeds
ROUNDS = 3  # interleaved timing rounds; each candidate keeps its best
STALE_CANDIDATE_S = 3600.0  # a candidate this old was left by a preparation that was killed

_TEXT = (
    "the lighthouse keeper wrote down weather every morning direction of wind height waves "
    "colour sky before sunrise and ships that passed over forty years notebooks filled whole "
    "shelf scientists later used them to study how storms along coast had changed, while "
    "engineers measured 12 tides; a report (2019) compared results with satellite data. "
    "Résumé: rainfall increased 3.5% per decade in autumn, but winter gales were fewer."
)
_WORDS = _TEXT.split(" ")


def sample_texts(
    count_tokens: Callable[[str], int], n: int, tokens: int, seed: int = 0
) -> list[str]:
    """n distinct texts of `tokens` tokens (or one less, where a word is two tokens)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        words = [rng.choice(_WORDS) for _ in range(tokens * 2)]
        lo, hi = 1, len(words)
        while lo < hi:  # the most words that fit
            mid = (lo + hi + 1) // 2
            if count_tokens(" ".join(words[:mid])) <= tokens:
                lo = mid
            else:
                hi = mid - 1
        out.append(" ".join(words[:lo]))
    return out


@dataclass(frozen=True)
class Trial:
    outtype: str
    pack_tokens: int
    chunks_per_s: float


def time_models(paths: Mapping[str, Path], packings: Sequence[int] = PACKINGS) -> list[Trial]:
    """A Trial (chunks/s) for each weight type and packing: the best of ROUNDS rounds.

    The rounds are interleaved (each times every type and packing once, in turn), so a burst
    of load from another program slows every candidate a little rather than one of them a
    lot, and the best round of each is what it can do on a quiet machine."""
    # Contexts only as large as the biggest packing: the candidates are open at once, and
    # llama.cpp sizes its compute buffers by the batch capacity.
    capacity = max(*packings, SAMPLE_TOKENS)
    with ExitStack() as stack:
        embedders = {
            outtype: stack.enter_context(
                Embedder(path, batch_tokens=capacity, pack_tokens=max(packings))
            )
            for outtype, path in paths.items()
        }
        if not embedders:
            return []
        first = next(iter(embedders.values()))
        texts = sample_texts(first.count_tokens, SAMPLE_CHUNKS, SAMPLE_TOKENS)
        for emb in embedders.values():
            emb.embed(texts[:2])  # warm-up: first-call allocations
        best: dict[tuple[str, int], float] = {}
        for _ in range(ROUNDS):
            for outtype, emb in embedders.items():
                for pack in packings:
                    emb.pack_tokens = pack
                    t = time.perf_counter()
                    emb.embed(texts)
                    rate = len(texts) / (time.perf_counter() - t)
                    best[(outtype, pack)] = max(best.get((outtype, pack), 0.0), rate)
        return [Trial(t, p, round(r, 2)) for (t, p), r in best.items()]


def remove_stale_candidates(out: Path, older_than_s: float = STALE_CANDIDATE_S) -> list[Path]:
    """Delete candidate files (`.<stem>.<type>.<id>.gguf`, and the converter's `.part` files
    for them) that a preparation killed midway (the window closed, the power went) left
    beside `out`. Recent ones may belong to a preparation running now, in another process,
    and are kept."""
    removed: list[Path] = []
    now = time.time()
    patterns = (f".{out.stem}.*.gguf", f"..{out.stem}.*.gguf.*.part")
    for path in sorted({p for pattern in patterns for p in out.parent.glob(pattern)}):
        try:
            if now - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed.append(path)
        except OSError:
            continue  # gone already, or not ours to delete
    return removed


def prepare_default(
    src_dir: Path,
    out_path: Path,
    progress: Callable[[str], None] | None = None,
    outtypes: Sequence[str] = OUTTYPES,
) -> Path:
    """Convert the bundled checkpoint in each weight type, keep the fastest as out_path and
    record the measurements beside it. Returns out_path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_candidates(out)
    candidates: dict[str, Path] = {}
    trials: list[Trial] = []
    try:
        for outtype in outtypes:
            # unique per call: two preparations at once must not share candidates
            tmp = out.with_name(f".{out.stem}.{outtype}.{uuid.uuid4().hex[:12]}.gguf")
            if progress:
                progress(f"converting the embedding model ({outtype.upper()})")
            candidates[outtype] = convert_checkpoint(src_dir, tmp, outtype=outtype)
        if len(candidates) > 1:
            if progress:
                types = " and ".join(t.upper() for t in candidates)
                progress(f"timing the {types} embedding models on this machine")
            trials = time_models(candidates)
            best = max(trials, key=lambda t: t.chunks_per_s)
        else:
            best = Trial(next(iter(candidates)), 0, 0.0)
        os.replace(candidates.pop(best.outtype), out)
        record = {
            "file_size": out.stat().st_size,
            "cpu": cpu_name(),
            "outtype": best.outtype,
            "pack_tokens": best.pack_tokens,
            "sample": {"chunks": SAMPLE_CHUNKS, "tokens": SAMPLE_TOKENS, "rounds": ROUNDS},
            "trials": [asdict(t) for t in trials],
        }
        tuning_path(out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        log.info(
            "embedding model: %s, %s tokens per call (%s)",
            best.outtype,
            best.pack_tokens,
            ", ".join(f"{t.outtype}/{t.pack_tokens}: {t.chunks_per_s}" for t in trials),
        )
        return out
    finally:
        for path in candidates.values():
            path.unlink(missing_ok=True)


__all__ = [
    "prepare_default",
    "read_tuning",
    "remove_stale_candidates",
    "sample_texts",
    "time_models",
]
