"""MLM continuation baseline: keep training the masked-LM objective during intermediate training.

The arm's intermediate tasks (zero, one or several) are trained as usual; this plugin adds one more task to
the same multi-task loop, masked LM on a multilingual text corpus. Settings (`arms[].settings`):

```yaml
baseline: mlm
settings:
  languages: [de, ru, zh]            # corpus languages (required)
  # the corpus, one of:
  dir: data/mlm                      # {dir}/{lang}.txt, one sentence per line
  files: {de: de.txt, ru: ru.txt}    # one file per language
  hf: {repo: wikimedia/wikipedia, config: "20231101.{lang}", split: train, text: text, revision: <sha>}
  max_sentences: 100000              # per language, before mixing (default: all)
  temperature: 1.0                   # language mixing: language l gets a share proportional to n_l^(1/T),
                                     # n_l its corpus size (all lines of a file, the HF card's rows), not the
                                     # max_sentences read
  sizes: {de: 2500000, ru: 1900000}  # optional: n_l given (any unit), when the corpus cannot tell
  ratio: 0.5                         # share of MLM batches in the loop (default: the arm's sampler rule)
  mlm_probability: 0.15
```
An `hf` corpus is streamed: a row (a Wikipedia article) is cut into its non-empty lines (paragraphs), each
line counts as one sentence, and reading stops once `max_sentences` lines are in, so memory is bounded by
`max_sentences`; without it the whole split is read and held (bounded only by the corpus).
The pretrained LM head is reused when the model has one; otherwise a fresh head is tied to the embeddings.
Only the encoder is carried to the target phase, as for every arm.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import UserError, settings_error
from harness.languages import LanguageCode

TASK_NAME = "mlm-continuation"


class HFCorpus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    repo: str
    config: str | None = None
    """May contain {lang}."""
    split: str = "train"
    text: str = "text"
    revision: str = "main"


class MLMSettings(BaseModel):
    """The validated settings of an `mlm` arm."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    languages: list[LanguageCode] = Field(min_length=1)
    dir: str | None = None
    files: dict[str, str] | None = None
    hf: HFCorpus | None = None
    max_sentences: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    sizes: dict[LanguageCode, int] | None = None
    """Corpus size per language (any one unit: rows, lines, bytes) for the temperature shares; default: the
    corpus's own size (all lines of a local file, the dataset card's row count of an HF split), else the
    lines read (recorded)."""
    ratio: float | None = Field(default=None, gt=0, le=1)
    mlm_probability: float = Field(default=0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_corpus(self) -> MLMSettings:
        given = [k for k in ("dir", "files", "hf") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one corpus: dir, files or hf (got {given or 'none'})")
        if self.files is not None:
            missing = [lang for lang in self.languages if lang not in self.files]
            if missing:
                raise ValueError(f"files: no file for language(s) {missing}")
        return self


def parse_settings(settings: dict[str, Any], where: str = "settings") -> MLMSettings:
    try:
        return MLMSettings.model_validate(settings)
    except ValidationError as exc:
        raise settings_error(exc, where, "mlm baseline") from None


def check_settings(settings: dict[str, Any], where: str) -> None:
    """Validate an arm's settings at `xstilts validate` time."""
    parse_settings(settings, where)


def estimate_rows(settings: dict[str, Any], phase: str) -> int | None:
    """Corpus rows added to a phase (for GPU-hour estimates); None when only the data knows."""
    if phase != "intermediate":
        return 0
    s = parse_settings(settings)
    return s.max_sentences * len(s.languages) if s.max_sentences else None


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(f"mlm corpus file not found: {path}; fix settings.dir or settings.files of the arm")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_corpus(ctx: Any, s: MLMSettings) -> tuple[dict[str, list[str]], dict[str, int], str]:
    """(language -> sentences, from local files or an HF dataset through harness.data so snapshots work;
    language -> corpus size for the temperature shares; where the sizes come from)."""
    out: dict[str, list[str]] = {}
    sizes: dict[str, int | None] = {}
    for lang in s.languages:
        if s.hf is not None:
            out[lang] = _hf_text(ctx, s.hf, lang, s.max_sentences)
            sizes[lang] = _hf_rows(ctx, s.hf, lang)
        else:
            path = Path(s.files[lang]) if s.files is not None else Path(s.dir or ".") / f"{lang}.txt"
            out[lang] = _read_lines(path.expanduser())
            sizes[lang] = len(out[lang])
            if ctx.provenance is not None:
                ctx.provenance.append({"task": TASK_NAME, "split": "train", "language": lang,
                                       "source": "local", "path": str(path), "rows": len(out[lang])})
        if s.max_sentences:
            out[lang] = out[lang][: s.max_sentences]
    if s.sizes is not None:
        return out, {lang: s.sizes[lang] for lang in s.languages if lang in s.sizes}, "settings.sizes"
    if all(n for n in sizes.values()):
        return out, {k: int(v) for k, v in sizes.items() if v}, "corpus (local lines, or HF dataset card rows)"
    return out, {lang: len(texts) for lang, texts in out.items()}, "lines read (corpus sizes unknown)"


def _hf_rows(ctx: Any, hf: HFCorpus, lang: str) -> int | None:
    from harness.data.load import split_rows
    from harness.spec import HFSource

    source = HFSource(repo=hf.repo, config=hf.config, split=hf.split, revision=hf.revision,
                      fields={"text": hf.text})
    return split_rows(source, lang, ctx.data, name=TASK_NAME)


def _hf_text(ctx: Any, hf: HFCorpus, lang: str, limit: int | None) -> list[str]:
    """The first `limit` non-empty lines of the corpus in `lang`, streamed (nothing past them is read)."""
    from harness.data.load import stream_column
    from harness.spec import HFSource

    source = HFSource(repo=hf.repo, config=hf.config, split=hf.split, revision=hf.revision,
                      fields={"text": hf.text})
    texts, provenance = stream_column(source, lang, ctx.data, limit=limit, split_lines=True, name=TASK_NAME)
    if ctx.provenance is not None:
        ctx.provenance.append({"task": TASK_NAME, "split": "train", "language": lang, **provenance})
    return texts


def mix_languages(corpus: dict[str, list[str]], temperature: float, seed: int,
                  sizes: dict[str, int] | None = None) -> list[str]:
    """Resample languages to shares proportional to n_l^(1/T), keeping the total number of texts read; n_l is
    the language's corpus size (`sizes`, default the texts read). With max_sentences every big corpus is cut
    to the same count, so the shares must come from the full sizes, or T would change nothing."""
    read = {lang: len(texts) for lang, texts in corpus.items() if texts}
    if not read:
        raise UserError("the mlm corpus is empty; check settings.languages and the corpus files")
    sizes = {lang: (sizes or read).get(lang, n) for lang, n in read.items()}
    total = sum(read.values())
    raw = {lang: n ** (1.0 / temperature) for lang, n in sizes.items()}
    z = sum(raw.values())
    rng = random.Random(seed)
    out: list[str] = []
    for lang in sorted(sizes):
        want = max(1, round(total * raw[lang] / z))
        texts = list(corpus[lang])
        rng.shuffle(texts)
        out += [texts[i % len(texts)] for i in range(want)]
    rng.shuffle(out)
    return out


def intermediate_tasks(ctx: Any, encoder: Any, tokenizer: Any) -> list[tuple[Any, Any]]:
    """Hook for harness.stages: one masked-LM task (with its head) added to the intermediate loop."""
    from harness.hparams import Hparams
    from harness.kinds.mlm import MLMKind, fresh_lm_head, pretrained_lm_head
    from harness.model import hidden_size
    from harness.train import TrainTask

    cfg = ctx.stage.config
    s = parse_settings(cfg.get("baseline_settings") or {})
    seed = int(cfg["seed"])
    corpus, sizes, sizes_from = load_corpus(ctx, s)
    texts = mix_languages(corpus, s.temperature, seed, sizes)
    if ctx.provenance is not None:
        ctx.provenance.append({"task": TASK_NAME, "split": "train", "language": "all", "language_shares": {
            "temperature": s.temperature, "sizes": sizes, "sizes_from": sizes_from}})
    kind = MLMKind.for_tokenizer(tokenizer, s.mlm_probability, seed)
    features = kind.featurize({"text": texts}, tokenizer, None, Hparams(**cfg["hparams"]))
    head = pretrained_lm_head(cfg["model"], encoder, ctx.trust_remote_code)
    if head is None:
        head = fresh_lm_head(hidden_size(encoder), encoder.get_input_embeddings())
    return [(TrainTask(TASK_NAME, kind, features, share=s.ratio), head)]
