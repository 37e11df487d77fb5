"""The command line uses a model's preset as the window does (`app.presets`): `hearth chat`
with the default model answers within the preset's token limit; its own option still wins."""

from __future__ import annotations

import re
import subprocess

from servers import HEARTH

from app.paths import get_paths
from app.presets import preset_key
from app.settings import Settings


def chat_tokens(*options: str) -> int:
    run = subprocess.run(
        [str(HEARTH), "chat", "--stats", *options, "Tell me a long story about a lighthouse."],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    found = re.search(r"\[(\d+) tokens", run.stderr)
    assert found, run.stderr
    return int(found.group(1))


def test_hearth_chat_uses_the_models_preset_and_its_own_options_win() -> None:
    path = get_paths().settings_file
    settings = Settings.load(path)
    settings.model_presets[preset_key(settings.default_model)] = {
        "sampling": {"max_tokens": 3, "temperature": 0.0}
    }
    settings.save(path)
    assert chat_tokens() == 3
    assert chat_tokens("--max-tokens", "5") == 5
