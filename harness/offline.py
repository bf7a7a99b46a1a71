"""The offline world: synthetic multilingual text and a tiny randomly initialised XLM-R.

Nothing here is real data. Each language code gets its own pseudo-vocabulary in its own script, so the
tokenizer, the length distribution and the multi-script code paths are exercised; a few shared "marker"
words carry labels so a working training loop learns them, and zero-shot transfer is possible.
"""

from __future__ import annotations

import hashlib
import json
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


FIXTURE_FILE = "xstilts_fixture.json"
"""Marker file in a model directory written by `build_tiny_model` (generated, not a pretrained model)."""
FIXTURE_KEY = "xstilts_fixture"
"""The same mark as a config.json key (and the marker file's key); it survives `save_pretrained`."""


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
        **{FIXTURE_KEY: True},  # kept by save_pretrained, so encoders fine-tuned from it carry it too
    )
    torch.manual_seed(seed)
    model = XLMRobertaForMaskedLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / FIXTURE_FILE).write_text(json.dumps(
        {FIXTURE_KEY: True, "what": f"a tiny randomly initialised XLM-R ({layers} layers, hidden size "
         f"{hidden_size}) written by harness.offline.build_tiny_model; not a pretrained model"}, indent=2) + "\n",
        encoding="utf-8")
    return out_dir


def is_fixture_model(model_dir: Path) -> bool:
    """Whether `model_dir` holds a generated fixture model (the tiny random XLM-R of `build_tiny_model`,
    or an encoder fine-tuned from it): its marker file, or the mark in its config.json. A hub model id or
    any other directory is not."""
    model_dir = Path(model_dir)
    if (model_dir / FIXTURE_FILE).is_file():
        return True
    config = model_dir / "config.json"
    try:
        return config.is_file() and json.loads(config.read_text(encoding="utf-8")).get(FIXTURE_KEY) is True
    except (OSError, ValueError, AttributeError):
        return False


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
