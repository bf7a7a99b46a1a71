"""File names of a runs directory, in one place. Imports nothing, so any module (the CLI too) may use it.

```
RUNS_DIR/experiment.json                 the recorded plan (EXPERIMENT_JSON)
RUNS_DIR/<stage key>/stage.json          what ran, with what (STAGE_JSON)
                     metrics.json        the stage's results (METRICS_JSON)
                     done                written last (DONE)
                     checkpoint/         resumable state while training (CHECKPOINT_DIR)
                     encoder/            an intermediate stage's encoder (ENCODER_DIR)
                     model/encoder/, model/heads.safetensors   a target stage's model (MODEL_DIR, HEADS_FILE)
                     predictions/{split}-{lang}.{ext}           an evaluate stage's predictions (PREDICTIONS_DIR)
                     stage.log           the stage's output when it ran in its own process (STAGE_LOG)
                     failed.json         why the stage's last attempt failed and where its log is (FAILED)
```
"""

from __future__ import annotations

EXPERIMENT_JSON = "experiment.json"
STAGE_JSON = "stage.json"
METRICS_JSON = "metrics.json"
DONE = "done"
CHECKPOINT_DIR = "checkpoint"
ENCODER_DIR = "encoder"
MODEL_DIR = "model"
HEADS_FILE = "heads.safetensors"
PREDICTIONS_DIR = "predictions"
STAGE_LOG = "stage.log"
FAILED = "failed.json"


def prediction_file(split: str, lang: str, ext: str) -> str:
    """The name of one split and language's predictions inside PREDICTIONS_DIR."""
    return f"{split}-{lang}.{ext}"
