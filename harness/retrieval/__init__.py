"""Retrieval engine: sentence embeddings, cosine kNN (FAISS), margin-based bitext mining, thresholds.

Modules (import them directly; this package imports nothing heavy):
- `embed`: `embed_sentences` (masked mean or CLS pooling of one hidden layer; bf16 autocast on CUDA).
- `search`: `knn` (chunked cosine kNN, exact or approximate) and `nearest_neighbour` (top-1); `knn_both`
  (CPU, both ways in one pass); `torch_knn`/`torch_knn_both` (matmul + top-k on a torch device, the GPU
  path without faiss-gpu); `knn_engine` (which of them runs here).
- `mining`: `mine_bitext` (LASER margin mining), `dedup_sentences`, `expand_pairs`.
- `threshold`: `best_threshold` (F1 sweep on dev gold) and `apply_threshold`.
"""
