"""Documents: extraction, chunking, embeddings, indexes, retrieval. Plain Python, no Qt."""
