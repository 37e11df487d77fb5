"""PyInstaller hook for chromadb (none ships with PyInstaller or its contrib hooks).

chromadb picks its implementation classes from dotted names in its settings
(e.g. "chromadb.api.rust.RustBindingsAPI", "chromadb.telemetry.product.posthog.Posthog") and
imports them at run time, so static analysis misses them: collect its submodules, leaving out
the CLI and the tests. The HTTP server (chromadb.server.fastapi, with its token
authentication) is kept: the desktop window and the CLI run it in a child process
(rag.chroma_server, `hearth -m rag.chroma_server` in the bundle). The local (PersistentClient)
engine is the Rust extension chromadb_rust_bindings. The package reads its own version from
its metadata.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

_SKIP = ("chromadb.test", "chromadb.cli", "chromadb.app")

hiddenimports = collect_submodules("chromadb", filter=lambda name: not name.startswith(_SKIP))
hiddenimports += ["chromadb_rust_bindings"]
datas = collect_data_files("chromadb", excludes=["**/test/**", "**/tests/**", "**/*.pyi"])
datas += copy_metadata("chromadb")
