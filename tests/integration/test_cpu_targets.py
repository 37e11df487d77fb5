"""Hearth's patched llama.cpp kernels on every CPU Hearth's users have: the patched ggml-cpu
library compiled for each target of packaging/llama.cpp/check_targets.py (x86 from SSE4.2 to
AVX-512 with VNNI/BF16; aarch64 NEON, Apple-like and SVE with Debian's cross compiler), and its
reference checks (GELU, softmax, flash attention against double precision) run for each target
this machine can execute, natively or under qemu-user.

Builds are kept in .cache/check-targets (only what changed is rebuilt). A target with no
compiler here (aarch64 without g++-aarch64-linux-gnu) is skipped with the reason; a target
this CPU cannot run is compiled and its checks skipped with the reason."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging" / "llama.cpp"))
import check_targets  # noqa: E402

WORK = ROOT / ".cache" / "check-targets"


@pytest.fixture(scope="module")
def source() -> Path:
    return check_targets.prepare_source(WORK)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", [t.name for t in check_targets.TARGETS])
def test_the_patched_kernels_compile_and_match_the_references(source: Path, name: str) -> None:
    target = check_targets.BY_NAME[name]
    result, exe = check_targets.compile_target(target, source, WORK, jobs=os.cpu_count() or 2)
    if result.compiled is None:
        pytest.skip(f"{name}: {result.reason}")
    assert result.compiled, f"{name}: {result.reason}\n" + Path(result.log).read_text()[-4000:]
    check_targets.run_checks(target, exe, result)
    if result.checks == "not run":
        pytest.skip(f"{name} compiled; its checks did not run: {result.reason}")
    assert result.checks == "passed", f"{name}: {result.reason}"
