"""Repeat and group detection on complaint embeddings: the vector index behind it lives in `index`."""
