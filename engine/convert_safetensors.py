"""Read a Hugging Face safetensors checkpoint (one file or shards with an index) without PyTorch.

Every shard's header is parsed and checked first (a truncated or damaged file fails here with
the file's name, before anything is written). Tensors are read with the `safetensors` package
(numpy framework); BF16, which numpy cannot represent, is read from the raw bytes and widened
to float32 (bfloat16 is the top half of a float32, so the widening is exact).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.errors import ConversionError

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"

# safetensors dtype name -> (numpy dtype of the stored bytes, item size)
_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "I16": ("<i2", 2),
    "I8": ("i1", 1),
    "U8": ("u1", 1),
    "BOOL": ("?", 1),
}
_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorEntry:
    name: str
    file: Path
    dtype: str  # safetensors name: F32, F16, BF16, ...
    shape: tuple[int, ...]
    start: int  # absolute byte offset in the file
    end: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def _damaged(path: Path, why: str) -> ConversionError:
    return ConversionError(
        f"{path.name} is damaged or incomplete ({why}). Download or copy the model again.",
        f"{path}: {why}",
    )


def read_safetensors_header(path: Path) -> list[TensorEntry]:
    """The tensors one .safetensors file holds, checked against the file's real size."""
    if not path.is_file():
        raise ConversionError(f"The checkpoint file {path.name} is missing.", str(path))
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw_len = fh.read(8)
        if len(raw_len) < 8:
            raise _damaged(path, f"only {size} bytes")
        (n,) = struct.unpack("<Q", raw_len)
        if n > _MAX_HEADER or 8 + n > size:
            raise _damaged(path, "its header is cut short")
        try:
            header: dict[str, Any] = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _damaged(path, "its header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise _damaged(path, "its header is not a JSON object")
    base = 8 + n
    entries: list[TensorEntry] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = str(info["dtype"])
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _damaged(path, f"bad header entry for {name}") from exc
        if dtype not in _DTYPES:
            raise ConversionError(
                f"{path.name} stores {name} as {dtype}, which Hearth cannot convert.",
                f"{path}: {name} dtype {dtype}",
            )
        entry = TensorEntry(name, path, dtype, shape, base + begin, base + end)
        if end < begin or end - begin != entry.n_elements * _DTYPES[dtype][1]:
            raise _damaged(path, f"tensor {name} has inconsistent offsets")
        if entry.end > size:
            raise _damaged(path, f"{(entry.end - size) / 1e6:.1f} MB of tensor data are missing")
        entries.append(entry)
    return entries


def checkpoint_files(src_dir: Path) -> list[Path]:
    """The shard files of a checkpoint: from the index when there is one, else *.safetensors."""
    index = src_dir / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (OSError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ConversionError(
                f"{INDEX_FILE} in {src_dir.name} cannot be read.", f"{index}: {exc}"
            ) from exc
        files = [src_dir / name for name in names]
        for f in files:
            if not f.is_file():
                raise ConversionError(
                    f"The checkpoint file {f.name} (listed in {INDEX_FILE}) is missing.", str(f)
                )
        return files
    files = sorted(src_dir.glob("*.safetensors"))
    if not files:
        raise ConversionError(
            f"{src_dir} has no {SINGLE_FILE} (nor any *.safetensors file) to convert.",
            str(src_dir / SINGLE_FILE),
        )
    return files


class Checkpoint:
    """All tensors of a checkpoint by name; `load` returns float tensors as float16/float32."""

    def __init__(self, src_dir: Path) -> None:
        self.files = checkpoint_files(src_dir)
        self.entries: dict[str, TensorEntry] = {}
        for f in self.files:
            for e in read_safetensors_header(f):
                self.entries[e.name] = e
        self._handles: dict[Path, Any] = {}

    def names(self) -> list[str]:
        return list(self.entries)

    def load(self, name: str) -> npt.NDArray[Any]:
        entry = self.entries[name]
        if entry.dtype == "BF16":
            return _load_bf16(entry)
        handle = self._handles.get(entry.file)
        if handle is None:
            from safetensors import safe_open

            handle = safe_open(str(entry.file), framework="numpy")
            self._handles[entry.file] = handle
        array: npt.NDArray[Any] = handle.get_tensor(name)
        return array

    def close(self) -> None:
        self._handles.clear()


def _load_bf16(entry: TensorEntry) -> npt.NDArray[np.float32]:
    with entry.file.open("rb") as fh:
        fh.seek(entry.start)
        raw = fh.read(entry.end - entry.start)
    if len(raw) != entry.end - entry.start:
        raise _damaged(entry.file, f"tensor {entry.name} is cut short")
    halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return bf16_bits_to_float32(halves).reshape(entry.shape)


def bf16_bits_to_float32(bits: npt.NDArray[np.uint32]) -> npt.NDArray[np.float32]:
    """bfloat16 bit patterns (in uint16/uint32) to float32: shift into the top half."""
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
