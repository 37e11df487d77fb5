"""Reading safetensors without PyTorch: header checks and BF16 widening."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from engine.convert_safetensors import (
    Checkpoint,
    bf16_bits_to_float32,
    checkpoint_files,
    read_safetensors_header,
)
from engine.errors import ConversionError


def _write_raw(path: Path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def _bf16_bits(values: np.ndarray) -> np.ndarray:
    """Truncating float32 → bfloat16 (exact for values with 8 significant bits)."""
    return (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)


def test_bf16_widening_is_exact_for_representable_values() -> None:
    values = np.array([0.0, 1.0, -2.5, 3.140625, 65280.0, -1e-3, np.inf], dtype=np.float32)
    exact = bf16_bits_to_float32(_bf16_bits(values).astype(np.uint32)).astype(np.float32)
    np.testing.assert_array_equal(exact[:5], values[:5])
    assert abs(exact[5] - values[5]) < 1e-5 and np.isinf(exact[6])


def test_bf16_tensor_is_read_from_raw_bytes(tmp_path: Path) -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 2.0
    bits = _bf16_bits(values).tobytes()
    f32 = np.ones(3, dtype=np.float32).tobytes()
    header = {
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "BF16", "shape": [3, 4], "data_offsets": [0, len(bits)]},
        "b": {"dtype": "F32", "shape": [3], "data_offsets": [len(bits), len(bits) + len(f32)]},
    }
    _write_raw(tmp_path / "model.safetensors", header, bits + f32)
    ckpt = Checkpoint(tmp_path)
    assert sorted(ckpt.names()) == ["b", "w"]
    w = ckpt.load("w")
    assert w.dtype == np.float32 and w.shape == (3, 4)
    np.testing.assert_array_equal(w, values)
    np.testing.assert_array_equal(ckpt.load("b"), np.ones(3, dtype=np.float32))


def test_numpy_written_file_round_trips(tmp_path: Path) -> None:
    tensors = {"a": np.random.default_rng(0).standard_normal((5, 7)).astype(np.float16)}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    ckpt = Checkpoint(tmp_path)
    np.testing.assert_array_equal(ckpt.load("a"), tensors["a"])


def test_truncated_data_is_reported_with_the_file_name(tmp_path: Path) -> None:
    save_file({"a": np.zeros((64, 64), np.float32)}, str(tmp_path / "model.safetensors"))
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ConversionError, match=r"model\.safetensors.*(incomplete|damaged)"):
        read_safetensors_header(path)


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 16),
        ({"a": {"dtype": "F32", "shape": [4]}}, b"\0" * 16),
        ({"a": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
    ],
)
def test_bad_headers_are_conversion_errors(tmp_path: Path, header: dict, data: bytes) -> None:
    _write_raw(tmp_path / "x.safetensors", header, data)
    with pytest.raises(ConversionError):
        read_safetensors_header(tmp_path / "x.safetensors")


def test_garbage_header(tmp_path: Path) -> None:
    (tmp_path / "x.safetensors").write_bytes(struct.pack("<Q", 5) + b"{not json")
    with pytest.raises(ConversionError, match="header"):
        read_safetensors_header(tmp_path / "x.safetensors")
    (tmp_path / "y.safetensors").write_bytes(b"abc")
    with pytest.raises(ConversionError):
        read_safetensors_header(tmp_path / "y.safetensors")


def test_shards_come_from_the_index(tmp_path: Path) -> None:
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        save_file({name[:11]: np.zeros(2, np.float32)}, str(tmp_path / name))
    index = {
        "weight_map": {
            "x": "model-00002-of-00002.safetensors",
            "y": "model-00001-of-00002.safetensors",
        }
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert [p.name for p in checkpoint_files(tmp_path)] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    assert sorted(Checkpoint(tmp_path).names()) == ["model-00001", "model-00002"]


def test_no_weights_names_model_safetensors(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"model\.safetensors"):
        checkpoint_files(tmp_path)
