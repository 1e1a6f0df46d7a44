"""model.kind = "cnn" (Cohen et al.'s convnet on one flat θ) and engine.chunk_size (full-data passes in
chunks). Tiny image data: an npz of 3×8×8 (or 8×8) images, and the CIFAR-10 fixture."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from eos_tui.engine.arm import Arm, grad_and_value
from eos_tui.engine.curvature.hessian import make_hvp
from eos_tui.engine.problems import CNN, MLP, build_problem
from eos_tui.engine.runner import run_scenario
from eos_tui.scenario import ScenarioError, load_scenario_text, resources
from tests.cifar_fixture import make_batches, write_folder

CPU = torch.device("cpu")


def load(text: str, **kwargs):
    return load_scenario_text(text, source="t.toml", default_name="t", **kwargs)


def images(tmp_path, shape=(3, 8, 8), n=10, name="img.npz", seed=0):
    rng = np.random.default_rng(seed)
    path = tmp_path / name
    np.savez(
        path,
        X=rng.normal(size=(n, *shape)),
        y=rng.integers(0, 3, size=n),
        X_test=rng.normal(size=(4, *shape)),
        y_test=rng.integers(0, 3, size=4),
    )
    return path


def cnn_toml(path, *, model="", loss="mse", extra="", arms="", channels="[4, 3]"):
    return (
        f'steps = 6\ndtype = "float64"\ndevice = "cpu"\nloss = "{loss}"\n{extra}[optimizer]\nlr = 0.05\n'
        f'[model]\nkind = "cnn"\nchannels = {channels}\n{model}[data]\nkind = "npz"\npath = "{path}"\n'
        f"[measure]\nsharpness_every = 2\n{arms}"
    )


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("c10")
    write_folder(root, make_batches(per_batch=4, test=4, seed=2))
    return root


# ---- the parameter count, the schema's and the engine's -----------------------------------------


@pytest.mark.parametrize(
    "shape, model",
    [((3, 8, 8), ""), ((3, 8, 8), "bias = false\n"), ((8, 8), 'pooling = "average"\n'), ((2, 9, 7), "[5]")],
)
def test_parameter_count_matches_the_engine(tmp_path, shape, model):
    chan = "[5]" if model == "[5]" else "[4, 3]"
    arm = load(cnn_toml(images(tmp_path, shape), model="" if model == "[5]" else model, channels=chan)).arms[0]
    p = build_problem(arm, CPU)
    assert isinstance(p, CNN) and p.dim == arm.parameter_count()
    c = shape[0] if len(shape) == 3 else 1
    chans = [5] if "[5]" in model else [4, 3]
    bias = "false" not in model
    h, w, count = shape[-2], shape[-1], 0
    for out in chans:
        count += out * c * 9 + (out if bias else 0)
        c, h, w = out, h // 2, w // 2
    assert p.dim == count + c * h * w * 3 + (3 if bias else 0)


def test_cifar10_default_channels(cifar_dir):
    text = f'steps = 1\n[optimizer]\nlr = 0.01\n[model]\nkind = "cnn"\n[data]\nkind = "cifar10"\npath = "{cifar_dir}"\nn = 6\n'
    arm = load(text).arms[0]
    assert arm.model.channels == [32, 32] and arm.model.pooling == "max"
    assert arm.parameter_count() == (32 * 3 * 9 + 32) + (32 * 32 * 9 + 32) + 32 * 8 * 8 * 10 + 10
    assert build_problem(arm, CPU).dim == arm.parameter_count()
    est = resources.estimate_arm(arm)
    act = [t for t in est.per_step if t.what.startswith("activations")]
    assert act and act[0].bytes > 4 * 6 * 3072 * 4  # the convolutions' feature maps, not just the input
    assert {t.key for t in est.terms()} >= {"model.channels", "data.n"}


# ---- the forward pass is torch.nn's convnet ------------------------------------------------------


@pytest.mark.parametrize("pooling, activation", [("max", "tanh"), ("average", "relu")])
def test_forward_equals_torch_nn(tmp_path, pooling, activation):
    arm = load(cnn_toml(images(tmp_path), model=f'pooling = "{pooling}"\nactivation = "{activation}"\n')).arms[0]
    p = build_problem(arm, CPU)
    act = torch.nn.Tanh() if activation == "tanh" else torch.nn.ReLU()
    pool = torch.nn.MaxPool2d(2) if pooling == "max" else torch.nn.AvgPool2d(2)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        act,
        pool,
        torch.nn.Conv2d(4, 3, 3, padding=1),
        act,
        pool,
        torch.nn.Flatten(),
        torch.nn.Linear(12, 3),
    ).double()
    with torch.no_grad():
        for mod, sl in zip([net[0], net[3]], p.convs):
            mod.weight.copy_(p.theta0[sl.weight].view(sl.shape))
            mod.bias.copy_(p.theta0[sl.bias])
        head = p.layers[0]
        net[7].weight.copy_(p.theta0[head.weight].view(head.shape))
        net[7].bias.copy_(p.theta0[head.bias])
        ref = net(p.X.view(-1, 3, 8, 8))
    assert torch.allclose(p.outputs(p.theta0), ref, rtol=1e-12, atol=1e-12)
    # PyTorch's default init bounds: ±1/√fan_in
    assert p.theta0[p.convs[0].weight].abs().max() <= 1 / math.sqrt(27)


# ---- refusals -------------------------------------------------------------------------------------


def test_refused_without_image_data(tmp_path):
    with pytest.raises(ScenarioError, match=r"model\.kind.*'cnn' needs image data: data\.kind = 'cifar10'.*got 'random-labels'"):
        load('[optimizer]\nlr = 0.1\n[model]\nkind = "cnn"\n')
    flat = tmp_path / "flat.npz"
    np.savez(flat, X=np.zeros((5, 12)), y=np.arange(5) % 2)
    with pytest.raises(ScenarioError, match=r"'cnn' needs image data, but X in .*flat\.npz has flat rows"):
        load(cnn_toml(flat))
    with pytest.raises(ScenarioError, match=r"model\.channels: 4 convolutions pool the 8×8 images 2×2 that many times: at most 3"):
        load(cnn_toml(images(tmp_path), channels="[1, 1, 1, 1]"))
    with pytest.raises(ScenarioError, match=r"model\.hidden.*does not apply to kind 'cnn'"):
        load(cnn_toml(images(tmp_path), model="hidden = [3]\n"))
    with pytest.raises(ScenarioError, match=r"model\.channels"):
        load(cnn_toml(images(tmp_path), channels="[]"))


@pytest.mark.parametrize("pooling", ["max", "average"])
def test_reparam_checks_are_exact_for_a_relu_cnn(tmp_path, pooling):
    """T_α per output channel of a relu CNN (the filter and bias ×α, the next layer's weights that
    read the channel ×1/α): same outputs and loss to round-off, λ_max after = the prediction."""
    measure = "sharpness_every = 2\nreparam_every = 2\nreparam_alphas = [0.2, 5.0]\ntolerance = 1e-8\nmax_iter = 200\n"
    text = cnn_toml(images(tmp_path), model=f'activation = "relu"\npooling = "{pooling}"\n').replace("sharpness_every = 2\n", measure)
    arm = Arm(load(text, overrides=["steps=1"]).arms[0], CPU)
    records = arm.begin()
    while arm.status is None:
        records += arm.step()
    rows = [r for r in records if r["type"] == "reparam"]
    # two α × three maps: conv0→conv1, conv1→head, every other channel of conv0
    assert [(r["alpha"], r["layer"], r["neurons"]) for r in rows] == [
        (a, layer, n) for a in (0.2, 5.0) for layer, n in ((0, "all"), (1, "all"), (0, "every other"))
    ]
    for r in rows:
        assert r["max_output_change"] < 1e-12 and abs(r["loss_change"]) < 1e-12
        assert r["sharpness_after"] == pytest.approx(r["sharpness_predicted"], rel=1e-5)
        assert not math.isclose(r["sharpness_after"], r["sharpness_before"], rel_tol=0.05)


def test_reparam_checks_are_refused_for_a_tanh_cnn(tmp_path):
    text = cnn_toml(images(tmp_path)).replace("sharpness_every = 2\n", "sharpness_every = 2\nreparam_every = 2\n")
    arm = Arm(load(text).arms[0], CPU)
    records = arm.begin()
    while arm.status is None:
        records += arm.step()
    skipped = [r for r in records if r.get("kind") == "reparam_skipped"]
    assert not [r for r in records if r["type"] == "reparam"]
    assert len(skipped) == 1 and "not positively homogeneous" in skipped[0]["message"]


# ---- training: cross-entropy, SGD, the vmapped batch ---------------------------------------------


def test_batched_cnn_arms_equal_arms_trained_alone(tmp_path):
    arms = '[[arm]]\nname = "a"\noptimizer.lr = 0.05\n[[arm]]\nname = "b"\noptimizer.lr = 0.2\n'
    out = {}
    for mode in ("auto", "off"):
        sc = load(cnn_toml(images(tmp_path), loss="cross-entropy", arms=arms), overrides=[f'engine.batch_arms="{mode}"'])
        d = tmp_path / mode
        d.mkdir()
        status, manifest = run_scenario(sc, d)
        assert status == "completed"
        out[mode] = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        if mode == "auto":
            assert manifest["batches"] == [["a", "b"]]
    assert len(out["auto"]) == len(out["off"])
    for x, y in zip(out["auto"], out["off"]):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float):
                assert math.isclose(x[k], y[k], rel_tol=1e-9, abs_tol=1e-12), (k, x, y)
            elif k in ("eigenvalues",):
                assert np.allclose(x[k], y[k], rtol=1e-7)
    sharp = [r for r in out["off"] if r["type"] == "sharpness"]
    assert sharp and all(r["eigenvalues"][0] > 0 for r in sharp)


def test_sgd_trains_a_cnn(tmp_path):
    text = cnn_toml(images(tmp_path)).replace("lr = 0.05\n", 'lr = 0.05\nkind = "sgd"\nbatch_size = 4\n')
    arm = Arm(load(text).arms[0], CPU)
    records = arm.begin()
    while arm.status is None:
        records += arm.step()
    assert arm.status == "completed"


# ---- engine.chunk_size ----------------------------------------------------------------------------


def _pair(text: str, chunk: int) -> tuple[MLP, MLP]:
    whole = build_problem(load(text).arms[0], CPU)
    chunked = build_problem(load(text, overrides=[f"engine.chunk_size={chunk}"]).arms[0], CPU)
    assert chunked.chunk_size == chunk and whole.chunk_size is None
    return whole, chunked


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    rel = float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))
    assert rel <= 1e-6, rel


MLP_TEXT = 'dtype = "float64"\nloss = "LOSS"\n[optimizer]\nlr = 0.1\n[data]\nn = 23\ndim = 5\nclasses = 3\n[model]\nhidden = [7, 6]\n'


@pytest.mark.parametrize("model", ["mlp-mse", "mlp-cross-entropy", "cnn-mse", "cnn-cross-entropy"])
def test_chunked_loss_gradient_hvp_and_test_loss_equal_unchunked(tmp_path, model):
    kind, loss = model.split("-", 1)
    if kind == "mlp":
        text = MLP_TEXT.replace("LOSS", loss)
    else:
        text = cnn_toml(images(tmp_path, n=11), loss=loss)
    whole, chunked = _pair(text, 4)
    theta = whole.theta0 + 0.01 * torch.randn(whole.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g1, l1 = grad_and_value(whole.loss, theta)
    g2, l2 = grad_and_value(chunked.loss, theta)
    assert math.isclose(float(l1), float(l2), rel_tol=1e-6)
    _close(g2, g1)
    v = torch.randn(whole.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    h1, h2 = make_hvp(whole.loss, theta, parts=whole.loss_parts()), make_hvp(chunked.loss, theta, parts=chunked.loss_parts())
    assert "chunked_hvp" in h2.__qualname__ and "chunked_hvp" not in h1.__qualname__  # chunk by chunk
    _close(h2(v), h1(v))
    _close(h2(g1), h1(g1))  # the graph is reused for a second product
    _close(chunked.outputs(theta), whole.outputs(theta))
    if kind == "cnn":
        t1, t2 = whole.test_metrics(theta), chunked.test_metrics(theta)
        assert t1.keys() == t2.keys() and math.isclose(t1["test_loss"], t2["test_loss"], rel_tol=1e-6)


def test_chunk_size_key():
    with pytest.raises(ScenarioError, match=r"engine\.chunk_size"):
        load(MLP_TEXT.replace("LOSS", "mse"), overrides=["engine.chunk_size=0"])
    sc = load(MLP_TEXT.replace("LOSS", "mse"), overrides=["engine.chunk_size=1000"])
    assert sc.arms[0].engine.chunk_size == 1000 and "chunk_size = 1000" in sc.to_toml()
    assert load(MLP_TEXT.replace("LOSS", "mse")).arms[0].engine.chunk_size is None


def test_chunked_runs_agree_with_unchunked_ones_including_the_dense_hessian(tmp_path):
    """A whole run (sharpness by Lanczos, by measure.exact's dense Hessian) is the same with chunks."""
    base = MLP_TEXT.replace("LOSS", "mse").replace("[optimizer]", "steps = 6\n[measure]\nsharpness_every = 2\nEXACT\n[optimizer]")
    for exact in ("exact = false", "exact = true"):
        out = []
        for chunk in ([], ["engine.chunk_size=5"]):
            arm = Arm(load(base.replace("EXACT", exact), overrides=chunk).arms[0], CPU)
            recs = arm.begin()
            while arm.status is None:
                recs += arm.step()
            out.append([r["eigenvalues"][0] for r in recs if r["type"] == "sharpness"])
        assert len(out[0]) == 3 and np.allclose(out[0], out[1], rtol=1e-6), (exact, out)


def test_the_memory_estimate_counts_one_chunk_of_activations():
    whole = resources.estimate_arm(load(MLP_TEXT.replace("LOSS", "mse")).arms[0])
    chunked = resources.estimate_arm(load(MLP_TEXT.replace("LOSS", "mse"), overrides=["engine.chunk_size=5"]).arms[0])
    (a,) = [t for t in whole.per_step if t.what.startswith("activations")]
    (c,) = [t for t in chunked.per_step if t.what.startswith("activations")]
    assert c.key == "engine.chunk_size" and c.bytes * 23 == a.bytes * 5
