"""Retrieval engine: sentence embeddings, cosine kNN (FAISS), margin-based bitext mining, thresholds.

Modules (import them directly; this package imports nothing heavy):
- `embed`: `embed_sentences` (masked mean or CLS pooling of one hidden layer).
- `search`: `knn` (chunked cosine kNN, exact or approximate) and `nearest_neighbour` (top-1).
- `mining`: `mine_bitext` (LASER margin mining), `dedup_sentences`, `expand_pairs`.
- `threshold`: `best_threshold` (F1 sweep on dev gold) and `apply_threshold`.
"""
