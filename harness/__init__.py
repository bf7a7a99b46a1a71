"""xstilts engine: runs intermediate-task training and zero-shot cross-lingual evaluation.

The engine knows task *kinds* (classification, tagging, span QA, ...), never a particular task; tasks
arrive as plugins through entry points (see `harness.registry`).
"""

__version__ = "0.1.0"
