"""Read and validate a GGUF file's header without loading its weights.

llama.cpp aborts the whole process on some malformed files, so every file is checked here
first: the magic, the version, that the key/value section and the tensor table parse, that
every tensor's data lies inside the file (a truncated download fails here, not in llama.cpp),
and what llama.cpp asserts on (engine.gguf_check).

`gguf.GGUFReader` builds a numpy view per token string and takes seconds on a small model;
this reader skips arrays it does not need and takes milliseconds. Type sizes come from the
`gguf` package's own tables.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from engine.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# GGUF value types
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(8, 13)
_SCALAR_FORMATS = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<?",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}
# Arrays longer than this are skipped (token lists, merges, scores); their length is kept.
# Per-layer values (head counts, experts used) are kept: llama.cpp allows 512 layers.
_MAX_ARRAY_KEPT = 1024


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type: int
    offset: int  # relative to the data section
    n_bytes: int


@dataclass
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    array_lengths: dict[str, int]
    tensors: list[TensorInfo] = field(default_factory=list)
    data_offset: int = 0
    file_size: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_key(self, suffix: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{suffix}", default)

    @property
    def n_params(self) -> int:
        total = 0
        for t in self.tensors:
            n = 1
            for d in t.shape:
                n *= d
            total += n
        return total

    @property
    def file_type_name(self) -> str:
        return file_type_name(self)


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.path = path
        self.size = len(buf)

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise ModelFileError(
                f"{self.path.name} is truncated or damaged: its header ends early.",
                f"{self.path}: header read past end of file at byte {self.pos} (+{n})",
            )

    def unpack(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        self.need(n)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.unpack("<Q")
        self.need(n)
        self.pos += n

    def value(self, vtype: int) -> Any:
        if vtype in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[vtype])
        if vtype == _STRING:
            return self.string()
        raise ModelFileError(
            f"{self.path.name} is not a valid GGUF file (unknown value type {vtype}).",
            f"{self.path}: unknown GGUF value type {vtype} at byte {self.pos}",
        )


def _read_array(cur: _Cursor) -> tuple[list[Any] | None, int]:
    etype = cur.unpack("<I")
    count = cur.unpack("<Q")
    if etype == _ARRAY:
        raise ModelFileError(
            f"{cur.path.name} uses nested arrays, which Hearth cannot read.",
            f"{cur.path}: nested GGUF array",
        )
    if count <= _MAX_ARRAY_KEPT:
        return [cur.value(etype) for _ in range(count)], count
    if etype == _STRING:
        for _ in range(count):
            cur.skip_string()
    elif etype in _SCALAR_FORMATS:
        n = struct.calcsize(_SCALAR_FORMATS[etype]) * count
        cur.need(n)
        cur.pos += n
    else:
        raise ModelFileError(
            f"{cur.path.name} is not a valid GGUF file.", f"{cur.path}: bad array type {etype}"
        )
    return None, count


def read_header(path: str | Path) -> GGUFHeader:
    """Parse and validate a GGUF header. Raises ModelFileError with a readable reason."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"Model file not found: {p}", str(p))
    if p.is_dir():
        raise ModelFileError(f"{p} is a folder, not a GGUF model file.", str(p))
    size = p.stat().st_size
    if size < 24:
        raise ModelFileError(
            f"{p.name} is not a GGUF model file (it is only {size} bytes).", f"{p}: {size} bytes"
        )
    with p.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm[:4] != GGUF_MAGIC:
            raise ModelFileError(
                f"{p.name} is not a GGUF model file (it does not start with the GGUF signature).",
                f"{p}: first bytes {bytes(mm[:8])!r}",
            )
        cur = _Cursor(mm, p)
        cur.pos = 4
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise ModelFileError(
                f"{p.name} uses GGUF version {version}, which this version of Hearth cannot read.",
                f"{p}: GGUF version {version}",
            )
        n_tensors = cur.unpack("<Q")
        n_kv = cur.unpack("<Q")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise ModelFileError(f"{p.name} is damaged (implausible header counts).", str(p))
        metadata: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.unpack("<I")
            if vtype == _ARRAY:
                values, count = _read_array(cur)
                lengths[key] = count
                if values is not None:
                    metadata[key] = values
            else:
                metadata[key] = cur.value(vtype)
        tensors: list[TensorInfo] = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.unpack("<I")
            if n_dims > 8:
                raise ModelFileError(f"{p.name} is damaged (bad tensor table).", f"{p}: {name}")
            shape = tuple(cur.unpack("<Q") for _ in range(n_dims))
            ttype = cur.unpack("<I")
            offset = cur.unpack("<Q")
            tensors.append(
                TensorInfo(name, shape, ttype, offset, _tensor_bytes(p, name, shape, ttype))
            )
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ModelFileError(
                f"{p.name} is damaged (its data alignment is {alignment!r}).", str(p)
            )
        data_offset = (cur.pos + alignment - 1) // alignment * alignment
    header = GGUFHeader(p, version, metadata, lengths, tensors, data_offset, size)
    _check_tensor_data(header)
    from engine.gguf_check import check_loadable  # it reads GGUFHeader from here

    check_loadable(header)
    return header


def _tensor_bytes(path: Path, name: str, shape: tuple[int, ...], ttype: int) -> int:
    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
    except (ValueError, KeyError) as exc:
        raise ModelFileError(
            f"{path.name} uses a tensor type ({ttype}) that this version of Hearth does not know.",
            f"{path}: tensor {name} has type {ttype}",
        ) from exc
    n = 1
    for d in shape:
        n *= d
    if shape and shape[0] % block:
        raise ModelFileError(f"{path.name} is damaged (tensor {name} has a bad shape).", str(path))
    return n // block * type_size


def _check_tensor_data(h: GGUFHeader) -> None:
    if not h.tensors:
        raise ModelFileError(
            f"{h.path.name} contains no tensors: it is not a usable model.", str(h.path)
        )
    end = max(h.data_offset + t.offset + t.n_bytes for t in h.tensors)
    if end > h.file_size:
        missing = end - h.file_size
        raise ModelFileError(
            f"{h.path.name} is incomplete: {missing / 1e6:.1f} MB of model data are missing "
            "(an interrupted download or copy?). Download or copy it again.",
            f"{h.path}: tensor data ends at byte {end}, file has {h.file_size} bytes",
        )


_FILE_TYPE_NAMES = {
    ft.value: ft.name.removeprefix("MOSTLY_").removeprefix("ALL_") for ft in LlamaFileType
}


def file_type_name(h: GGUFHeader) -> str:
    """The quantization of a file, e.g. "Q4_K_M", from `general.file_type` or its tensors."""
    ft = h.get("general.file_type")
    if isinstance(ft, int) and ft in _FILE_TYPE_NAMES:
        return _FILE_TYPE_NAMES[ft]
    # Fall back to the most common type among the 2-D weights.
    counts: dict[int, int] = {}
    for t in h.tensors:
        if len(t.shape) >= 2:
            counts[t.type] = counts.get(t.type, 0) + t.n_bytes
    if not counts:
        return "unknown"
    best = max(counts, key=lambda k: counts[k])
    return GGMLQuantizationType(best).name
