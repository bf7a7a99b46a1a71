"""The training loop: sampler proportions, checkpoint identity, and kill -9 then resume == uninterrupted."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import start_run, write_experiment

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds import get_kind
from harness.train import TrainTask, sampling_weights, schedule, train

SIZES = {"big": 1000, "mid": 100, "small": 10}
DRAWS = 20000
TOLERANCE = 0.015
"""Absolute tolerance on each task's share of 20,000 draws: the binomial std is at most 0.0036, so this is
more than 4 standard deviations (and the seed is fixed, so the test is deterministic)."""


def _tasks() -> list[TrainTask]:
    kind = get_kind("classification")
    return [TrainTask(name, kind, [{"input_ids": [0] * (3 + i % 7)} for i in range(n)]) for name, n in SIZES.items()]


@pytest.mark.parametrize("sampler,expected", [
    ({"name": "proportional"}, {"big": 1000 / 1110, "mid": 100 / 1110, "small": 10 / 1110}),
    ({"name": "temperature", "temperature": 2.0},
     {t: n ** 0.5 / (1000 ** 0.5 + 100 ** 0.5 + 10 ** 0.5) for t, n in SIZES.items()}),
    ({"name": "uniform"}, {t: 1 / 3 for t in SIZES}),
    ({"name": "capped", "cap": 100}, {"big": 100 / 210, "mid": 100 / 210, "small": 10 / 210}),
    ({"name": "proportional", "weights": {"big": 0.1}}, {"big": 100 / 210, "mid": 100 / 210, "small": 10 / 210}),
])
def test_sampler_proportions(sampler, expected):
    assert sampling_weights(SIZES, sampler) == pytest.approx(expected)
    plan, steps = schedule(_tasks(), Hparams(batch_size=1, max_steps=DRAWS), sampler, seed=3)
    assert steps == DRAWS == len(plan)
    counts = Counter(task for task, _ in plan)
    for task, share in expected.items():
        assert abs(counts[task] / DRAWS - share) < TOLERANCE, (task, counts[task] / DRAWS, share)


def test_capped_task_still_sees_all_its_examples():
    plan, _ = schedule(_tasks(), Hparams(batch_size=1, max_steps=5000), {"name": "capped", "cap": 100}, seed=0)
    seen = {i for task, idx in plan if task == "big" for i in idx}
    assert len(seen) == 1000


def test_schedule_is_a_function_of_the_seed_and_batches_are_length_grouped():
    hp = Hparams(batch_size=8, max_steps=50)
    a, _ = schedule(_tasks(), hp, {"name": "uniform"}, seed=1)
    assert a == schedule(_tasks(), hp, {"name": "uniform"}, seed=1)[0]
    assert a != schedule(_tasks(), hp, {"name": "uniform"}, seed=2)[0]
    tasks = {t.name: t for t in _tasks()}
    spreads = [max(len(tasks[t].features[i]["input_ids"]) for i in idx) -
               min(len(tasks[t].features[i]["input_ids"]) for i in idx) for t, idx in a if t == "big"]
    assert sum(spreads) / len(spreads) < 1.0  # lengths 3..9: random batches of 8 would spread ~5


def test_checkpoint_of_another_config_is_refused(tmp_path):
    from harness.checkpoint import Checkpointer

    Checkpointer(tmp_path, "intermediate-a-1", "cfg1").save({"plan_length": 4})
    assert Checkpointer(tmp_path, "intermediate-a-1", "cfg1").load({"plan_length": 4})["plan_length"] == 4
    with pytest.raises(UserError, match="belongs to stage intermediate-a-1 with config cfg1"):
        Checkpointer(tmp_path, "intermediate-a-1", "cfg2").load({})
    with pytest.raises(UserError, match="belongs to"):
        Checkpointer(tmp_path, "intermediate-b-1", "cfg1").load({})
    with pytest.raises(UserError, match="plan_length"):
        Checkpointer(tmp_path, "intermediate-a-1", "cfg1").load({"plan_length": 5})


def test_a_checkpoint_is_whole_or_absent(tmp_path):
    """save() writes a sibling and swaps it in; a kill between its two renames leaves the previous checkpoint."""

    from harness.checkpoint import Checkpointer, discard

    directory = tmp_path / "checkpoint"
    Checkpointer(directory, "s", "c").save({"plan_length": 1})
    (tmp_path / ".checkpoint.partial").mkdir()  # a save killed mid-write: ignored, replaced by the next save
    os.replace(directory, tmp_path / ".checkpoint.old")  # a save killed between its renames
    assert Checkpointer(directory, "s", "c").load({})["plan_length"] == 1
    Checkpointer(directory, "s", "c").save({"plan_length": 2})
    assert Checkpointer(directory, "s", "c").load({})["plan_length"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    discard(directory)
    assert not list(tmp_path.iterdir())


RESUME_BODY = """name: resume
seeds: [1]
arms: [mnli]
targets:
  - {task: xnli, languages: [en]}
splits: [dev]
hparams: {lr: 1.0e-3, batch_size: 16, max_seq_length: 40, eval_examples: 24, eval_every: 8, save_every: 2}
task_hparams:
  mnli: {max_steps: 30}
  xnli: {max_steps: 1, max_train_examples: 32}
"""


def _metrics(runs: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(runs.glob("*/metrics.json"))}


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_metrics(offline_world, tmp_path):
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, RESUME_BODY)
    whole = start_run(exp, tmp_path / "whole")
    killed = start_run(exp, tmp_path / "killed")
    deadline = time.time() + 120
    while not list((tmp_path / "killed").glob("intermediate-*/checkpoint/state.pt")):
        assert killed.poll() is None and time.time() < deadline, "no checkpoint appeared before the run ended"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    (inter,) = (tmp_path / "killed").glob("intermediate-*")
    assert not (inter / "done").exists() and not (inter / "metrics.json").exists()
    resumed = start_run(exp, tmp_path / "killed")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming from" in err
    assert whole.wait(timeout=300) == 0
    assert _metrics(tmp_path / "killed") == _metrics(tmp_path / "whole")
    assert len(_metrics(tmp_path / "whole")) == 3
    assert not list((tmp_path / "killed").glob("*/checkpoint"))  # removed once each stage is done
    assert (inter / "encoder" / "model.safetensors").exists()


def test_dataloader_workers_do_not_change_the_result(offline_world):

    from harness.execute import seed_everything
    from harness.model import build_task_model, hidden_size, load_encoder

    kind = get_kind("classification")

    def run(workers: int) -> list[float]:
        seed_everything(1)
        hp = Hparams(lr=1e-3, batch_size=8, max_steps=4, max_seq_length=16, num_workers=workers)
        encoder, tok = load_encoder(str(offline_world["model"]))
        feats = [{"input_ids": [0, *range(5, 5 + n), 2], "labels": n % 3} for n in range(3, 13)] * 4
        spec = type("Spec", (), {"labels": ("a", "b", "c"), "name": "t"})()
        model = build_task_model(encoder, {"t": kind.build_head(hidden_size(encoder), spec, hp)}, {"t": kind})
        train(model, [TrainTask("t", kind, feats)], hp, 1, tok.pad_token_id)
        return [float(p.detach().double().sum()) for p in model.parameters()][:6]

    assert run(0) == run(2), "DataLoader workers changed the trained weights"


def test_warm_feature_cache_trains_exactly_like_cold(offline_world, tmp_path, monkeypatch):
    """Cold (featurize, a list) and warm (the cache's lazy sequence) give the same schedule and the same
    trained weights and record, in-process and with DataLoader workers; multi-task with multiple choice too."""
    from harness import features_cache
    from harness.execute import seed_everything
    from harness.model import build_task_model, hidden_size, load_encoder
    from harness.spec import TaskSpec

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    n = 40
    nli = TaskSpec(name="nli", kind="classification", description="", metric="accuracy",
                   score_metrics=("accuracy",), labels=("a", "b", "c"))
    mc = TaskSpec(name="mc", kind="multiple_choice", description="", metric="accuracy", score_metrics=("accuracy",))
    columns = {
        "nli": {"text_a": [" ".join(words[: 1 + i % 8]) for i in range(n)],
                "text_b": [" ".join(words[i % 5:]) for i in range(n)],
                "label": [("a", "b", "c")[i % 3] for i in range(n)]},
        "mc": {"context": [" ".join(words[: 2 + i % 6]) for i in range(n)],
               "choices": [[" ".join(words[j: j + 1 + (i + j) % 4]) for j in range(2 + i % 3)] for i in range(n)],
               "label": [i % 2 for i in range(n)]},
    }
    specs = {"nli": nli, "mc": mc}
    hp = Hparams(lr=1e-3, batch_size=8, max_steps=5, max_seq_length=24)
    _, tokenizer = load_encoder(str(offline_world["model"]))

    def features() -> dict:
        return {name: features_cache.cached_features(get_kind(spec.kind), columns[name], tokenizer, spec, hp,
                                                     "train", "en") for name, spec in specs.items()}

    cold, warm = features(), features()
    assert all(isinstance(f, list) for f in cold.values())
    assert all(isinstance(f, features_cache.CachedFeatures) for f in warm.values())

    def tasks(feats: dict) -> list[TrainTask]:
        return [TrainTask(name, get_kind(spec.kind), feats[name]) for name, spec in specs.items()]

    sampler = {"name": "uniform"}
    assert schedule(tasks(cold), hp, sampler, 3) == schedule(tasks(warm), hp, sampler, 3)

    def run(feats: dict, workers: int) -> tuple[list[float], tuple]:
        seed_everything(1)
        encoder, tok = load_encoder(str(offline_world["model"]))
        run_hp = Hparams(**{**hp.to_dict(), "num_workers": workers})
        heads = {name: get_kind(spec.kind).build_head(hidden_size(encoder), spec, run_hp)
                 for name, spec in specs.items()}
        model = build_task_model(encoder, heads, {name: get_kind(spec.kind) for name, spec in specs.items()})
        result = train(model, tasks(feats), run_hp, 1, tok.pad_token_id, sampler=sampler)
        return ([float(p.detach().double().sum()) for p in model.parameters()],
                (result.steps, result.train_loss, result.sampler))

    reference = run(cold, 0)
    assert run(warm, 0) == reference, "the warm cache changed the trained weights"
    assert run(warm, 2) == reference, "the warm cache with DataLoader workers changed the trained weights"


def test_fp16_loss_scale_and_rng_states_survive_a_checkpoint(tmp_path):
    """accelerate's save_state/load_state, through the Checkpointer, restore the fp16 loss scaler (GPU only in
    training; a CPU scaler stands in here) and the RNG states."""
    import random

    import torch
    from accelerate import Accelerator

    from harness.checkpoint import Checkpointer

    def accelerator(scaler: bool) -> Accelerator:  # what the loop holds; under mixed_precision="fp16", a scaler
        acc = Accelerator(cpu=not torch.cuda.is_available())
        acc.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_interval=3) if scaler else None
        return acc

    before = accelerator(scaler=True)
    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    before.scaler.scale(weight.sum()).backward()
    before.scaler.update(new_scale=1024.0)  # as if backed off after overflows
    optimizer.zero_grad()
    before.scaler.scale(weight.sum()).backward()
    before.scaler.step(optimizer)
    before.scaler.update()  # one good step counted toward the next growth
    assert before.scaler.state_dict()["_growth_tracker"] == 1
    checkpoint = Checkpointer(tmp_path / "checkpoint", stage="s", config="c")
    checkpoint.save({}, before)
    draws = (random.random(), torch.rand(3).tolist())
    after = accelerator(scaler=True)
    checkpoint.load({}, after)
    assert (random.random(), torch.rand(3).tolist()) == draws
    assert after.scaler.get_scale() == 1024.0
    assert after.scaler.state_dict() == before.scaler.state_dict()
    checkpoint.save({}, accelerator(scaler=False))  # fp32 / bf16: no scaler to save or restore
    assert not (checkpoint.directory / "scaler.pt").exists()
    checkpoint.load({}, accelerator(scaler=False))


def test_weight_decay_spares_biases_and_layernorm(offline_world):
    """jiant's recipe: decay 0.01 on weight matrices; none on biases and LayerNorm weights."""
    from harness.model import build_task_model, hidden_size, load_encoder
    from harness.registry import task
    from harness.train import _optimizer

    hp = Hparams()
    assert hp.weight_decay == 0.01
    encoder, _ = load_encoder(str(offline_world["model"]))
    spec, kind = task("xnli"), get_kind("classification")
    model = build_task_model(encoder, {"xnli": kind.build_head(hidden_size(encoder), spec, hp)}, {"xnli": kind})
    decay_of = {id(p): g["weight_decay"] for g in _optimizer(model, hp).param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert len(decay_of) == len(named)
    layer_norms = [n for n in named if "LayerNorm" in n]
    biases = [n for n in named if n.endswith(".bias")]
    matrices = [n for n, p in named.items() if p.ndim == 2]
    assert layer_norms and biases and matrices
    assert all(decay_of[id(named[n])] == 0.0 for n in layer_norms + biases)
    assert all(decay_of[id(named[n])] == 0.01 for n in matrices)


def test_a_ctrl_c_during_the_final_evaluation_is_deferred_not_dropped(offline_world):
    import signal

    from harness.checkpoint import take_deferred_stop
    from harness.model import build_task_model, hidden_size, load_encoder

    kind = get_kind("classification")
    hp = Hparams(lr=1e-3, batch_size=8, max_steps=2, max_seq_length=16, eval_every=1000)
    encoder, tok = load_encoder(str(offline_world["model"]))
    feats = [{"input_ids": [0, *range(5, 5 + n), 2], "labels": n % 3} for n in range(3, 13)]
    spec = type("Spec", (), {"labels": ("a", "b", "c"), "name": "t"})()
    model = build_task_model(encoder, {"t": kind.build_head(hidden_size(encoder), spec, hp)}, {"t": kind})

    def final_evaluation(_model) -> float:  # runs once, at the last step, when nothing is left to stop after
        signal.raise_signal(signal.SIGINT)
        return 0.0

    result = train(model, [TrainTask("t", kind, feats)], hp, 1, tok.pad_token_id, evaluate=final_evaluation)
    assert result.steps == 2  # the stage completes
    assert take_deferred_stop() == "SIGINT" and take_deferred_stop() is None  # and the run is told to stop
