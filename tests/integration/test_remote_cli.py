"""`hearth chat` and `hearth ask` with a model on a server (--server URL): llama.cpp's own
server and a second Hearth's `hearth serve`, both real processes; and `hearth chat
--json-schema` on this computer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
from servers import HEARTH, free_port
from servers import SERVE_KEY as KEY

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 40},
        "population": {"type": "integer", "minimum": 0},
    },
    "required": ["city", "population"],
}


def hearth(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HEARTH), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize("which", ["llama.cpp", "hearth"])
def test_hearth_chat_answers_with_a_servers_model(
    which: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("llama_cpp_server" if which == "llama.cpp" else "hearth_server")
    run = hearth(
        "chat", "--server", url, "--api-key", KEY, "--temperature", "0", "--max-tokens", "16",
        "--stats", "Name a colour.",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()
    assert "tokens" in run.stderr  # --stats came back from the server's usage


def test_one_clear_message_for_each_server_failure(hearth_server: str) -> None:
    wrong_key = hearth("chat", "--server", hearth_server, "--api-key", "nope", "Hi")
    assert wrong_key.returncode == 1
    assert "refused the API key" in wrong_key.stderr
    no_model = hearth("chat", "--server", hearth_server, "--api-key", KEY, "-m", "gpt-9", "Hi")
    assert no_model.returncode == 1
    assert "has no model 'gpt-9'" in no_model.stderr
    nobody = hearth("chat", "--server", f"http://127.0.0.1:{free_port()}", "Hi")
    assert nobody.returncode == 1
    assert "Cannot reach the server" in nobody.stderr


def test_hearth_ask_searches_here_and_answers_there(hearth_server: str, tmp_path: Path) -> None:
    notes = tmp_path / "lighthouse.txt"
    notes.write_text(
        "The Skerryvore lighthouse was built between 1838 and 1844 by Alan Stevenson. "
        "It stands 48 metres tall on a reef off the Scottish island of Tiree.\n",
        encoding="utf-8",
    )
    added = hearth("docs", "add", str(notes))
    assert added.returncode == 0, added.stderr
    run = hearth(
        "ask", "--server", hearth_server, "--api-key", KEY, "--json", "--max-tokens", "40",
        "--temperature", "0", "Who built the Skerryvore lighthouse?",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["answer"].strip()
    assert {Path(str(s["file"])).name for s in answer["sources"]} == {"lighthouse.txt"}


def test_hearth_chat_json_schema_answer_validates(tmp_path: Path) -> None:
    schema = tmp_path / "city.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    run = hearth("chat", "--json-schema", str(schema), "--temperature", "0",
                 "--max-tokens", "120", "Describe a big city.")  # fmt: skip
    assert run.returncode == 0, run.stderr
    jsonschema.validate(json.loads(run.stdout), SCHEMA)


def test_an_unusable_schema_is_refused_with_the_reason(tmp_path: Path) -> None:
    schema = tmp_path / "bad.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "colour"}}}))
    run = hearth("chat", "--json-schema", str(schema), "Hi")
    assert run.returncode == 1
    assert "The JSON schema cannot be used" in run.stderr
