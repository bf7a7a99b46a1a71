"""Stage keys name the code that computes them: code edits re-key what they affect, docstrings re-key nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import installed_plugin

from harness import fingerprint, registry
from harness.experiment import load_experiment
from harness.plan import plan

TOY_PACKAGE = "fp_toy"
TOY_FILES = {
    "__init__.py": '"""Toy tasks for the fingerprint tests."""\n',
    "common.py": textwrap.dedent('''
        """Shared by the toy task (imported)."""

        FIELDS = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}


        def width() -> int:
            """A helper."""
            return 2  # two classes
    '''),
    "transforms.py": textwrap.dedent('''
        """Named by the spec as a "module:function" string, never imported by it."""


        def normalise(columns):
            return columns
    '''),
    "unrelated.py": "def nothing():\n    return None\n",
    "toy.py": textwrap.dedent('''
        """A toy classification task."""

        from fp_toy.common import FIELDS
        from harness.spec import HFSource, TaskSpec


        def _source(split: str) -> HFSource:
            """One split."""
            return HFSource(repo="someone/toy", split=split, fields=FIELDS, transform="fp_toy.transforms:normalise")


        TASK = TaskSpec(name="fp_toy", kind="classification", description="toy", metric="accuracy",
                        score_metrics=("accuracy",), languages=("en", "de"), labels=("0", "1"),
                        train=_source("train"), dev=_source("validation"), test=_source("test"))
    '''),
}

EXPERIMENT = """name: fp
model: /nonexistent/model
seeds: [1]
arms: [none, mnli, fp_toy]
targets: [fp_toy, xnli, pawsx]
"""
BUILTIN = """name: fp
model: /nonexistent/model
seeds: [1]
arms: [none, mnli]
targets: [xnli, pawsx, tatoeba]
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A third-party task package `fp_toy` on sys.path, registered through an entry point; yields its dir."""
    with installed_plugin(tmp_path, TOY_PACKAGE, TOY_FILES, "[xstilts.tasks]\nfp_toy = fp_toy.toy:TASK\n",
                          monkeypatch) as pkg:
        yield pkg


def _edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` by `new` in `path` and move its mtime forward (a same-size edit is seen too)."""
    text = path.read_text()
    assert old in text, old
    mtime = path.stat().st_mtime_ns
    path.write_text(text.replace(old, new, 1))
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))


def _keys(tmp_path: Path, body: str = EXPERIMENT) -> dict[tuple, str]:
    """{(kind, arm, task or intermediate tasks): key} of the experiment's plan."""
    path = tmp_path / "exp.yaml"
    path.write_text(body)
    stages = plan(load_experiment(path))
    return {(s.kind, s.meta["arm"], s.meta.get("task") or "+".join(s.meta["tasks"])): s.key for s in stages}


def _copy_with(tmp_path: Path, module: str, old: str, new: str, monkeypatch) -> Path:
    """Make `module` resolve to an edited copy of its source (the real file stays untouched)."""
    real = fingerprint.locate(module)
    copy = tmp_path / "edited" / module / real.name
    copy.parent.mkdir(parents=True)
    shutil.copy(real, copy)
    _edit(copy, old, new)
    original = fingerprint.locate
    monkeypatch.setattr(fingerprint, "locate", lambda name: copy if name == module else original(name))
    return copy


def test_docstrings_and_comments_do_not_count_code_does(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Module doc."""\n\nX = 1  # one\n\n\nclass A:\n    """Doc."""\n\n    y: int = 2\n'
                    '    """Attribute doc."""\n\n    def f(self):\n        """F."""\n        return self.y\n')
    before = fingerprint.source_hash(path)
    _edit(path, "Module doc.", "Another module doc, longer.")
    _edit(path, "# one", "# the number one")
    _edit(path, '"""Attribute doc."""', '"""Changed."""\n    # a new comment')
    _edit(path, '"""F."""', '"""F, reworded."""')
    assert fingerprint.source_hash(path) == before
    _edit(path, "return self.y", "return self.y + 1")
    assert fingerprint.source_hash(path) != before


def test_a_task_module_edit_rekeys_that_task_and_nothing_else(toy, tmp_path):
    base = _keys(tmp_path)
    toy_stages = {k for k in base if "fp_toy" in (k[1], k[2])}  # the toy target, and all of the toy arm
    assert toy_stages and set(base) - toy_stages

    for name in ("toy.py", "common.py", "transforms.py"):  # docstring and comment edits: nothing changes
        _edit(toy / name, '"""', '"""Reworded. ')
    _edit(toy / "common.py", "# two classes", "# two labels")
    assert _keys(tmp_path) == base

    _edit(toy / "unrelated.py", "return None", "return 1")  # same package, but the task never uses it
    assert _keys(tmp_path) == base

    for name, old, new in [("toy.py", 'split=split,', 'split=split, revision="main",'),  # the task's module
                           ("common.py", "return 2", "return 3"),  # a module it imports
                           ("transforms.py", "return columns", "return dict(columns)")]:  # a module it names
        before = _keys(tmp_path)
        _edit(toy / name, old, new)
        after = _keys(tmp_path)
        changed = {k for k in base if before[k] != after[k]}
        assert changed == toy_stages, name  # xnli's and pawsx's keys under `none` and `mnli` are identical


def test_an_engine_module_edit_rekeys_every_stage(tmp_path, monkeypatch):
    body = BUILTIN
    base = _keys(tmp_path, body)
    path = tmp_path / "exp.yaml"
    assert all("harness.scoring" in s.code["modules"] for s in plan(load_experiment(path)))  # function-level
    copy = _copy_with(tmp_path, "harness.scoring", '"""', '"""Reworded. ', monkeypatch)
    assert _keys(tmp_path, body) == base
    _edit(copy, "from __future__ import annotations", "from __future__ import annotations\n_EDITED = 1")
    after = _keys(tmp_path, body)
    assert set(after) == set(base) and not set(after.values()) & set(base.values())


class _Tokenizer:
    special_tokens_map = {"pad_token": "<pad>"}

    def get_vocab(self) -> dict[str, int]:
        return {"<pad>": 0, "a": 1}


def test_feature_key_follows_the_kind_and_task_code(toy, tmp_path, monkeypatch):
    from harness.features_cache import feature_key
    from harness.hparams import Hparams
    from harness.kinds import get_kind

    kind, task = get_kind("classification"), registry.task("fp_toy")
    columns = {"text_a": ["x"], "text_b": ["y"], "label": ["0"]}

    def key() -> str:
        return feature_key(kind, _Tokenizer(), task, Hparams(), "train", "en", columns)

    base = key()
    copy = _copy_with(tmp_path, "harness.kinds.classification", '"""', '"""Reworded. ', monkeypatch)
    assert key() == base
    _edit(copy, "truncation=True", "truncation=False")
    kind_edited = key()
    assert kind_edited != base
    _edit(toy / "common.py", "return 2", "return 3")
    assert key() not in (base, kind_edited)


def test_stage_json_records_the_code(tmp_path, monkeypatch):
    from harness import execute, stages
    from harness.data.settings import DataSettings

    (tmp_path / "exp.yaml").write_text(BUILTIN)
    stage = next(s for s in plan(load_experiment(tmp_path / "exp.yaml")) if s.upstream is None)
    monkeypatch.setitem(stages.RUNNERS, stage.kind, lambda ctx: {"ok": True})
    monkeypatch.setattr(execute, "seed_everything", lambda seed: None)
    assert execute.run_stage(stage, tmp_path / "runs", DataSettings())
    code = json.loads((tmp_path / "runs" / stage.key / "stage.json").read_text())["code"]
    assert code == stage.code and code["fingerprint"]
    hashes = code["modules"]
    assert hashes["harness.stages"] == fingerprint.source_hash(fingerprint.locate("harness.stages"))
    assert hashes["harness.stages"] != hashes["harness.train"]
    assert not any(m.startswith(fingerprint.NOT_ENGINE) for m in hashes)


def test_planning_imports_no_ml_library_and_fingerprints_differ_by_task():
    script = ("import sys; from harness.experiment import load_experiment; from harness.plan import plan; "
              "s = plan(load_experiment('experiments/paper.yaml')); "
              "assert not {'torch', 'transformers', 'datasets'} & set(sys.modules), 'heavy import'; "
              "ev = {x.meta['task']: x.code['fingerprint'] for x in s if x.kind == 'evaluate'}; "
              "print(len(set(ev.values())), len(ev))")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    distinct, tasks = map(int, proc.stdout.split())
    assert distinct == tasks > 1


def test_the_code_hash_ignores_fields_a_newer_python_adds_empty():
    """3.12 adds `type_params=[]` to every def and class, 3.13 omits None fields: neither may change a key."""
    import ast

    tree = ast.parse("def f(x: int = 1) -> int:\n    return x\n")
    plain = fingerprint.canonical_dump(tree)
    func = tree.body[0]
    func.type_params = []  # what 3.12 parses the same source into
    assert fingerprint.canonical_dump(tree) == plain
    func.returns = None  # a real change still counts
    assert fingerprint.canonical_dump(tree) != plain
    expected = "Module(body=[Assign(targets=[Name(id='x',ctx=Store())],value=Constant(value=1))])"
    assert fingerprint.canonical_dump(ast.parse("x = 1")) == expected
