"""User folders. `HEARTH_HOME` moves every one of them (tests point it at a temporary folder);
`HEARTH_MODELS_DIR` moves only the models folder (tests share one prepared models folder)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "Hearth"


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path
    cache: Path
    models: Path

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def chat_db(self) -> Path:
        return self.data / "chats.sqlite3"

    @property
    def documents_dir(self) -> Path:
        return self.data / "documents"

    @property
    def downloads_dir(self) -> Path:
        return self.models / ".partial"

    def ensure(self) -> Paths:
        """The folders, created private to the user (chats, documents, settings, the
        document store's token are nobody else's to read). A models folder moved elsewhere
        (HEARTH_MODELS_DIR) is made private when Hearth creates it, never tightened."""
        for folder in (self.data, self.config, self.cache, self.documents_dir):
            private_folder(folder, tighten=True)
        private_folder(self.models, tighten=self.models.parent == self.data)
        return self


def private_folder(folder: Path, tighten: bool) -> None:
    """`folder`, created with mode 0700 on POSIX; an existing one that others may read is
    tightened when `tighten` (and it is the user's own)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "posix" or not tighten:
        return
    try:
        st = folder.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            folder.chmod(0o700)
    except OSError:  # not ours to change: it stays as it is
        pass


def get_paths() -> Paths:
    home = os.environ.get("HEARTH_HOME")
    if home:
        base = Path(home).expanduser()
        paths = Paths(
            data=base / "data", config=base / "config", cache=base / "cache", models=base / "models"
        )
    else:
        data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        paths = Paths(
            data=data,
            config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            models=data / "models",
        )
    models_override = os.environ.get("HEARTH_MODELS_DIR")
    if models_override:
        paths = Paths(paths.data, paths.config, paths.cache, Path(models_override).expanduser())
    return paths
