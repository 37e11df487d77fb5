"""PyInstaller hook for wordfreq (rag.word_rarity).

Hearth reads one of its word lists, the "small" English one (124 KB): the other languages'
lists (56 MB) are left out. wordfreq finds a list by globbing its data folder, so the one
copied is the one it sees. langcodes, which it asks for the closest language it has, reads
its own data files.
"""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("wordfreq", includes=["data/small_en.msgpack.gz"])
datas += collect_data_files("langcodes")
