"""Published reference files: the shipped ones load; bad ones are one-line user errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UserError
from harness.report.references import load_file, load_references, reference_files


def _write(tmp_path: Path, results: str, scale: str = "percent") -> Path:
    path = tmp_path / "ref.yaml"
    path.write_text(f"model: M\nsplit: test\nscale: {scale}\nsource: a paper\nresults:\n{results}", encoding="utf-8")
    return path


def test_shipped_references_load():
    refs = load_references()
    assert {p.name for p in reference_files()} >= {"xlmr_large.yaml", "x_stilts.yaml"}
    xlmr = {(r.task, r.metric): r.value for r in refs if r.model == "XLM-R Large"}
    assert xlmr[("xnli", "accuracy")] == 79.2 and xlmr[("tydiqa", "f1")] == 65.1
    assert all(r.source and r.split == "test" for r in refs)


def test_unknown_task(tmp_path):
    with pytest.raises(UserError, match=r"ref\.yaml: results\.0\.task: unknown task 'xnlii' \(did you mean 'xnli'"):
        load_file(_write(tmp_path, "  - {task: xnlii, metric: accuracy, value: 79.2}\n"))


def test_fraction_instead_of_percent(tmp_path):
    with pytest.raises(UserError, match=r"0\.792 looks like a 0-1 fraction.*write 79\.2"):
        load_file(_write(tmp_path, "  - {task: xnli, metric: accuracy, value: 0.792}\n"))
    with pytest.raises(UserError, match="scale: Input should be 'percent'"):
        load_file(_write(tmp_path, "  - {task: xnli, metric: accuracy, value: 79.2}\n", scale="fraction"))


def test_wrong_metric_and_missing_fields(tmp_path):
    with pytest.raises(UserError, match="not a score metric of xquad"):
        load_file(_write(tmp_path, "  - {task: xquad, metric: accuracy, value: 70}\n"))
    with pytest.raises(UserError, match=r"results\.0\.metric: Field required"):
        load_file(_write(tmp_path, "  - {task: xnli, value: 70}\n"))
    assert UserError("x").exit_code == 2
