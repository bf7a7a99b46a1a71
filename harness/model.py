"""Encoders and task heads: load any HF encoder, attach heads, carry only the encoder between phases."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.errors import UserError


def quiet_transformers() -> None:
    """Silence load reports and progress bars of transformers (the harness prints its own progress)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def check_model_reference(name_or_path: str) -> None:
    """Fail early (UserError) for a local-looking model path without a saved model; no heavy imports."""
    local = Path(name_or_path).expanduser()
    looks_local = name_or_path.startswith((".", "/", "~")) or local.exists()
    if looks_local and not (local / "config.json").exists():
        raise UserError(f"model '{name_or_path}': no config.json in that directory; point `model:` at a "
                        "saved HF model directory or a hub id")


def cuda_bf16_supported() -> bool:
    """True when a CUDA GPU is present and supports bfloat16 (a seam tests can replace)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


ATTENTION = "sdpa"
"""Attention implementation requested: PyTorch's scaled_dot_product_attention (fused kernels on GPU)."""


def _from_pretrained(cls: Any, source: str, **kwargs: Any) -> Any:
    """`cls.from_pretrained` with SDPA attention; a model class without SDPA loads with its default.

    transformers 5 already defaults to SDPA where a class supports it and falls back to eager silently;
    asking for it explicitly makes an unsupported class raise, so that case retries without the request.
    """
    try:
        return cls.from_pretrained(source, attn_implementation=ATTENTION, **kwargs)
    except (ValueError, ImportError) as exc:
        if "scaled_dot_product_attention" not in str(exc) and ATTENTION not in str(exc):
            raise
        return cls.from_pretrained(source, **kwargs)


def attention_implementation(model: Any) -> str | None:
    """The attention implementation a loaded model runs ("sdpa", "eager", ...), for the record."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None)


def load_encoder(name_or_path: str, trust_remote_code: bool = False, with_lm_head: bool = False):
    """(encoder, tokenizer) from a hub id or a local directory; a bad name is a UserError.

    with_lm_head loads the masked-LM model (encoder plus its pretrained LM head) instead. Attention runs
    through SDPA where the model class supports it (`_from_pretrained`).
    """
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    quiet_transformers()
    check_model_reference(name_or_path)
    local = Path(name_or_path).expanduser()
    looks_local = name_or_path.startswith((".", "/", "~")) or local.exists()
    source = str(local) if looks_local else name_or_path
    cls = AutoModelForMaskedLM if with_lm_head else AutoModel
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        try:
            model = _from_pretrained(cls, source, trust_remote_code=trust_remote_code,
                                     **({} if with_lm_head else {"add_pooling_layer": False}))
        except TypeError:  # encoders without a pooler option
            model = _from_pretrained(cls, source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(f"model '{name_or_path}' could not be loaded ({first}); give a local model directory "
                        "or a hub id that is downloaded (the hub may be offline)") from None
    return model, tokenizer


def save_encoder(encoder: Any, tokenizer: Any, directory: Path) -> None:
    """Save encoder weights (safetensors) and tokenizer: the only thing carried to the next phase."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def save_heads(heads: Any, path: Path) -> None:
    from safetensors.torch import save_file

    state = {f"{task}.{k}": v.detach().cpu().contiguous() for task, head in heads.items()
             for k, v in head.state_dict().items()}
    save_file(state, str(path))


def load_heads(heads: Any, path: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(path))
    for task, head in heads.items():
        prefix = f"{task}."
        head.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})


def hidden_size(encoder: Any) -> int:
    config = encoder.config
    return int(getattr(config, "hidden_size", None) or config.d_model)


@lru_cache(maxsize=1)
def _task_model_class():
    from torch import nn

    class TaskModel(nn.Module):
        """One shared encoder, one head per task; forward(task, batch) runs that task's kind."""

        def __init__(self, encoder: Any, heads: dict[str, Any], kinds: dict[str, Any]) -> None:
            super().__init__()
            self.encoder = encoder
            self.heads = nn.ModuleDict(heads)
            self.kinds = kinds

        def forward(self, task: str, batch: dict) -> Any:
            return self.kinds[task].forward(self.encoder, self.heads[task], batch)

    return TaskModel


def build_task_model(encoder: Any, heads: dict[str, Any], kinds: dict[str, Any]):
    """A torch module with the shared encoder and the given heads (task name -> head module)."""
    return _task_model_class()(encoder, heads, kinds)
