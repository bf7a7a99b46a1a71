"""The offline world: synthetic multilingual text and a tiny randomly initialised XLM-R.

Nothing here is real data. Each language code gets its own pseudo-vocabulary in its own script, so the
tokenizer, the length distribution and the multi-script code paths are exercised; a few shared "marker"
words carry labels so a working training loop learns them, and zero-shot transfer is possible.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from pathlib import Path

# Unicode ranges by script, used to spell a language's pseudo-words.
_SCRIPTS = {
    "cjk": (0x4E00, 0x4FFF),
    "arabic": (0x0628, 0x064A),
    "cyrillic": (0x0430, 0x044F),
    "greek": (0x03B1, 0x03C9),
    "devanagari": (0x0915, 0x0939),
    "thai": (0x0E01, 0x0E2E),
    "hangul": (0xAC00, 0xAC60),
    "hebrew": (0x05D0, 0x05EA),
    "georgian": (0x10D0, 0x10F0),
    "tamil": (0x0B95, 0x0BB9),
    "bengali": (0x0995, 0x09B9),
    "telugu": (0x0C15, 0x0C39),
    "malayalam": (0x0D15, 0x0D39),
    "myanmar": (0x1000, 0x1020),
}
_LANG_SCRIPT = {
    "zh": "cjk", "ja": "cjk", "ar": "arabic", "ur": "arabic", "fa": "arabic", "ru": "cyrillic",
    "bg": "cyrillic", "kk": "cyrillic", "el": "greek", "hi": "devanagari", "mr": "devanagari",
    "th": "thai", "ko": "hangul", "he": "hebrew", "ka": "georgian", "ta": "tamil", "bn": "bengali",
    "te": "telugu", "ml": "malayalam", "my": "myanmar",
}
_LATIN = "aeioubcdfghklmnprstvz"

MARKERS = ("zorp", "quill", "vemmo", "trask", "blin")
"""Shared label-carrying words (the same in every language, like names or numbers)."""


def _rng(*parts: object) -> random.Random:
    seed = int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:12], 16)
    return random.Random(seed)


def vocabulary(lang: str, size: int = 120) -> list[str]:
    """Deterministic pseudo-words of a language, spelled in its script."""
    rng = _rng("vocab", lang)
    script = _LANG_SCRIPT.get(lang)
    words: set[str] = set()
    while len(words) < size:
        n = rng.randint(2, 6) if script is None else rng.randint(1, 3)
        if script is None:
            word = "".join(rng.choice(_LATIN) for _ in range(n))
        else:
            lo, hi = _SCRIPTS[script]
            word = "".join(chr(rng.randint(lo, hi)) for _ in range(n))
        if word not in MARKERS:
            words.add(word)
    return sorted(words)


class TextGen:
    """Sentences in one synthetic language."""

    def __init__(self, lang: str, seed: int = 0):
        self.lang = lang
        self.words = vocabulary(lang)
        self.rng = _rng("text", lang, seed)

    def words_(self, lo: int = 4, hi: int = 12) -> list[str]:
        return [self.rng.choice(self.words) for _ in range(self.rng.randint(lo, hi))]

    def sentence(self, lo: int = 4, hi: int = 12) -> str:
        return " ".join(self.words_(lo, hi))

    def with_marker(self, marker: str, lo: int = 4, hi: int = 10) -> str:
        """A sentence with `marker` inserted at a random position."""
        words = self.words_(lo, hi)
        words.insert(self.rng.randint(0, len(words)), marker)
        return " ".join(words)


def build_tiny_model(
    out_dir: Path,
    corpus: Iterable[str],
    vocab_size: int = 3000,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> Path:
    """Train a subword tokenizer on `corpus` and save a tiny random XLM-R (with its MLM head) to out_dir.

    The tokenizer is SentencePiece-style (metaspace word boundaries) BPE: frequent words become one piece,
    rare ones split into several, so first-sub-word logic is exercised while labels stay learnable.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForMaskedLM

    from harness.model import quiet_transformers

    quiet_transformers()

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(list(corpus), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        cls_token="<s>", sep_token="</s>", model_max_length=512,
    )
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden_size * 4, max_position_embeddings=514,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
    )
    torch.manual_seed(seed)
    model = XLMRobertaForMaskedLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


FIXTURES_GROUP = "xstilts.fixtures"
TINY_MODEL_DIR = "tiny-xlmr"
HUB_DIR = "hub"
LOCAL_DIR = "local"
"""Sibling of the hub directory where fixture writers put data read from local files (raw release layouts)."""


def local_root(hub_root: Path) -> Path:
    """The directory for local-file data of the world whose hub snapshots live in hub_root."""
    return hub_root.parent / LOCAL_DIR


def write_world(out: Path, with_model: bool = True) -> dict[str, Path]:
    """Write every registered fixture under out/hub (snapshots) and out/local (raw file layouts), and the
    tiny model under out/tiny-xlmr; returns the paths written ("hub", "local" if any, "model").

    Fixture writers are entry points of the group `xstilts.fixtures`: fn(hub_root) -> texts written.
    """
    from importlib.metadata import entry_points

    hub = out / HUB_DIR
    corpus: list[str] = []
    for ep in sorted(entry_points(group=FIXTURES_GROUP), key=lambda e: e.name):
        corpus += ep.load()(hub)
    paths = {"hub": hub}
    if local_root(hub).is_dir():
        paths["local"] = local_root(hub)
    if with_model:
        paths["model"] = build_tiny_model(out / TINY_MODEL_DIR, corpus)
    return paths
