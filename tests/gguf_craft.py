"""Hostile GGUF files made at test time from the real bundled models: a copy of a model with
some of its metadata changed, removed or added, or some tensors dropped or reshaped.

The key/value section is copied entry by entry as raw bytes and only the entries a test
changes are encoded again (with the `gguf` package's value types); the tensor data is copied
unchanged. gguf.GGUFReader builds a numpy object per token and takes 11 s to read Gemma 3's
header, which would make a fuzz test over dozens of fields far too slow.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

_SCALAR = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}


@dataclass
class Entry:
    key: str
    vtype: int
    raw: bytes  # the encoded value (after the type), as in the file
    value: Any = None  # decoded for scalars and strings, None for arrays


@dataclass
class Tensor:
    name: str
    shape: list[int]
    ttype: int
    offset: int  # in the source file's data section
    n_bytes: int


@dataclass
class Model:
    path: Path
    version: int
    entries: dict[str, Entry]
    tensors: list[Tensor]
    data_offset: int
    alignment: int = 32
    arch: str = field(init=False)

    def __post_init__(self) -> None:
        self.arch = str(self.entries["general.architecture"].value)


def _nbytes(shape: Sequence[int], ttype: int) -> int:
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
    n = 1
    for d in shape:
        n *= d
    return n // block * size


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("<Q")
        text = self.data[self.pos : self.pos + n].decode("utf-8", errors="replace")
        self.pos += n
        return text

    def skip_value(self, vtype: int) -> Any:
        if vtype in _SCALAR:
            return self.take(_SCALAR[GGUFValueType(vtype)])
        if vtype == GGUFValueType.STRING:
            return self.string()
        etype, count = self.take("<I"), self.take("<Q")
        if etype in _SCALAR:
            self.pos += struct.calcsize(_SCALAR[GGUFValueType(etype)]) * count
        else:
            for _ in range(count):
                self.skip_value(etype)
        return None


def read_model(path: Path) -> Model:
    """The source model's header, its entries kept as raw bytes."""
    with path.open("rb") as fh:
        head = fh.read(64 << 20)  # headers of the bundled models are a few MB
    r = _Reader(head)
    assert r.data[:4] == b"GGUF"
    r.pos = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    entries: dict[str, Entry] = {}
    for _ in range(n_kv):
        key = r.string()
        vtype = r.take("<I")
        start = r.pos
        value = r.skip_value(vtype)
        entries[key] = Entry(key, vtype, head[start : r.pos], value)
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        ttype, offset = r.take("<I"), r.take("<Q")
        tensors.append(Tensor(name, dims, ttype, offset, _nbytes(dims, ttype)))
    align = int(entries["general.alignment"].value) if "general.alignment" in entries else 32
    data_offset = (r.pos + align - 1) // align * align
    return Model(path, version, entries, tensors, data_offset, align)


def encode(value: Any, vtype: int) -> bytes:
    """A value as the GGUF file stores it after its type (arrays: a list of (etype, items))."""
    if vtype in _SCALAR:
        return struct.pack(_SCALAR[GGUFValueType(vtype)], value)
    if vtype == GGUFValueType.STRING:
        raw = str(value).encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw
    etype, items = value
    return struct.pack("<IQ", etype, len(items)) + b"".join(encode(v, etype) for v in items)


def _string(text: str) -> bytes:
    return encode(text, GGUFValueType.STRING)


def craft(
    src: Model,
    dst: Path,
    *,
    set_kv: Mapping[str, tuple[Any, int]] | None = None,
    drop_kv: Sequence[str] = (),
    drop_tensors: Sequence[str] = (),
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> Path:
    """Write a copy of `src` with entries set (key: (value, GGUFValueType)) or dropped and
    tensors dropped or given another shape (their data cut or padded with zeros to fit)."""
    entries = dict(src.entries)
    for key in drop_kv:
        entries.pop(key, None)
    for key, (value, vtype) in (set_kv or {}).items():
        entries[key] = Entry(key, int(vtype), encode(value, int(vtype)), value)
    kept = [t for t in src.tensors if t.name not in set(drop_tensors)]
    out: list[tuple[Tensor, list[int], int]] = []  # tensor, new shape, new offset
    offset = 0
    for t in kept:
        shape = list((shapes or {}).get(t.name, t.shape))
        out.append((t, shape, offset))
        size = _nbytes(shape, t.ttype)
        offset += (size + src.alignment - 1) // src.alignment * src.alignment
    header = bytearray(b"GGUF" + struct.pack("<IQQ", src.version, len(out), len(entries)))
    for e in entries.values():
        header += _string(e.key) + struct.pack("<I", e.vtype) + e.raw
    for t, shape, off in out:
        header += _string(t.name) + struct.pack("<I", len(shape))
        header += b"".join(struct.pack("<Q", d) for d in shape)
        header += struct.pack("<IQ", t.ttype, off)
    header += b"\0" * (-len(header) % src.alignment)
    with src.path.open("rb") as fin, dst.open("wb") as fout:
        fout.write(header)
        for t, shape, off in out:
            fout.seek(len(header) + off)
            size = _nbytes(shape, t.ttype)
            fin.seek(src.data_offset + t.offset)
            fout.write(fin.read(min(size, t.n_bytes)))
            if size > t.n_bytes:
                fout.write(b"\0" * (size - t.n_bytes))
        fout.truncate(len(header) + offset)
    return dst


def arch_key(model: Model, suffix: str) -> str:
    return f"{model.arch}.{suffix}"


U32 = GGUFValueType.UINT32
F32 = GGUFValueType.FLOAT32
STR = GGUFValueType.STRING
ARR = GGUFValueType.ARRAY
BOOL = GGUFValueType.BOOL


def array_items(entry: Entry) -> tuple[int, list[Any]]:
    """An array entry's element type and items (strings or numbers)."""
    r = _Reader(entry.raw)
    etype, count = r.take("<I"), r.take("<Q")
    return etype, [r.skip_value(etype) for _ in range(count)]
