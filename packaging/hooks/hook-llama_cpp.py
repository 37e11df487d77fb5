"""PyInstaller hook for llama-cpp-python.

llama_cpp loads llama.cpp's shared libraries with ctypes from `llama_cpp/lib` next to its own
`__file__`, which static analysis cannot see: collect that folder at the same relative place
(libllama, libggml, libggml-base, libggml-cpu and any GPU backend the wheel was built with,
libmtmd). Its Jinja chat-format code is kept; the optional OpenAI-compatible server is not.
"""

from PyInstaller.utils.hooks import collect_dynamic_libs, copy_metadata

binaries = collect_dynamic_libs("llama_cpp", search_patterns=["*.so*", "*.dylib", "*.dll"])
datas = copy_metadata("llama_cpp_python")
excludedimports = ["llama_cpp.server"]
