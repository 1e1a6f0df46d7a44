"""The built-in architectures (eos_tui/models/): each against a reference built from torch.nn on the
same parameters (float64, to 1e-12), their published parameter counts, the schema's torch-free
counts, their scenario keys and refusals, and the properties the engine relies on (a pure function
of θ and the batch under functional_call, through every differentiation mode; no randomness).

Also the fully connected network's ELU and softplus (engine/problems.py), against torch.nn.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from eos_tui.engine.curvature.hessian import dense_hessian, forward_over_reverse
from eos_tui.engine.determinism import batch_dependent_layers, random_layers
from eos_tui.engine.problems import CNN, MLP, build_problem
from eos_tui.engine.threads import matrix_work
from eos_tui.models import ARCHITECTURES, cnn, factory_of
from eos_tui.models.layers import Attention, Block
from eos_tui.scenario import ScenarioError, load_scenario_text, resources, schema

CPU = torch.device("cpu")
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(autouse=True)
def _float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def factory(kind: str):
    return factory_of(kind)


def build(kind: str, seed: int = 0, **args) -> nn.Module:
    torch.manual_seed(seed)
    return factory(kind)(**args).double()


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def views(module: nn.Module, theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """The module's parameters as views of one flat θ, in named_parameters order (what engine/
    modules.py hands torch.func.functional_call)."""
    out, offset = {}, 0
    for name, p in module.named_parameters():
        out[name] = theta[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    assert offset == theta.numel()
    return out


def load_into(module: nn.Module, params: list[torch.Tensor]) -> None:
    """Copy a list of tensors into a module's parameters, in order (shapes must agree)."""
    ps = list(module.parameters())
    assert len(ps) == len(params)
    with torch.no_grad():
        for p, v in zip(ps, params):
            assert p.shape == v.shape, (p.shape, v.shape)
            p.copy_(v)


def images(n=6, shape=(3, 8, 8), seed=0):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def load(text: str):
    return load_scenario_text(text, source="t.toml", default_name="t")


def npz_images(tmp_path, shape=(3, 8, 8), n=8, classes=3):
    rng = np.random.default_rng(0)
    path = tmp_path / f"img{'x'.join(map(str, shape))}.npz"
    np.savez(path, X=rng.normal(size=(n, *shape)), y=np.arange(n) % classes)  # every class present
    return path


def arch_toml(path, kind: str, model: str = "", loss: str = "mse") -> str:
    return (
        f'steps = 2\ndtype = "float64"\ndevice = "cpu"\nloss = "{loss}"\n[optimizer]\nlr = 0.01\n'
        f'[model]\nkind = "{kind}"\n{model}[data]\nkind = "npz"\npath = "{path}"\n'
    )


# ---- fully connected networks: tanh, ReLU, ELU, softplus ---------------------------------------


@pytest.mark.parametrize("name, act", [("tanh", nn.Tanh), ("relu", nn.ReLU), ("elu", nn.ELU), ("softplus", nn.Softplus)])
def test_mlp_activation_equals_torch_nn(name, act):
    text = (
        f'dtype = "float64"\ndevice = "cpu"\n[optimizer]\nlr = 0.1\n'
        f'[model]\nhidden = [7, 5]\nactivation = "{name}"\n[data]\nn = 9\ndim = 4\n'
    )
    p = build_problem(load(text).arms[0], CPU)
    assert isinstance(p, MLP)
    ref = nn.Sequential(nn.Linear(4, 7), act(), nn.Linear(7, 5), act(), nn.Linear(5, 4)).double()
    theta = p.theta0 * 3  # large enough that ELU's and softplus's curved parts are exercised
    load_into(
        ref, [theta[sl].view(shape) for layer in p.layers for sl, shape in ((layer.weight, layer.shape), (layer.bias, (layer.shape[0],)))]
    )
    with torch.no_grad():
        assert torch.allclose(p.outputs(theta), ref(p.X), **TOL)
        assert math.isclose(float(p.loss(theta)), float(0.5 * ((ref(p.X) - p.Y) ** 2).sum(-1).mean()), rel_tol=1e-12)


def test_cnn_takes_the_new_activations_too(tmp_path):
    arm = load(
        f'dtype = "float64"\ndevice = "cpu"\n[optimizer]\nlr = 0.1\n[model]\nkind = "cnn"\nchannels = [2]\nactivation = "elu"\n'
        f'[data]\nkind = "npz"\npath = "{npz_images(tmp_path)}"\n'
    ).arms[0]
    p = build_problem(arm, CPU)
    assert isinstance(p, CNN) and p.activation == "elu"


# ---- the convnet, without and with BatchNorm -----------------------------------------------------


@pytest.mark.parametrize("pooling, activation, bias", [("max", "tanh", True), ("average", "elu", False), ("max", "softplus", True)])
def test_cnn_module_equals_the_functional_cnn_on_one_theta(tmp_path, pooling, activation, bias):
    """model.kind = "cnn" (engine/problems.py, written on slices of θ) and models/cnn.py without
    BatchNorm are one network: the same θ gives the same outputs, loss and gradient."""
    model = f'channels = [4, 3]\npooling = "{pooling}"\nactivation = "{activation}"\nbias = {str(bias).lower()}\n'
    arm = load(arch_toml(npz_images(tmp_path), "cnn", model)).arms[0]
    p = build_problem(arm, CPU)
    net = cnn.make(input_shape=(3, 8, 8), outputs=3, channels=[4, 3], activation=activation, pooling=pooling, bias=bias).double()
    assert batch_dependent_layers(net) == []
    assert count(net) == p.dim
    theta = p.theta0.clone().requires_grad_()
    out = functional_call(net, views(net, theta), (p.X,))
    ref = p.forward(theta, p.X)
    assert torch.allclose(out, ref, **TOL)
    g1 = torch.autograd.grad(0.5 * ((out - p.Y) ** 2).sum(-1).mean(), theta)[0]
    g2 = torch.autograd.grad(p.loss(theta), theta)[0]
    assert torch.allclose(g1, g2, **TOL)


def test_cnn_bn_equals_torch_nn_batchnorm_in_training_mode():
    net = build("cnn-bn", input_shape=(2, 8, 8), outputs=3, channels=[4, 3], activation="relu", pooling="max", bias=True)
    ref = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2),
        nn.Conv2d(4, 3, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(3), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(12, 3),
    ).double()  # fmt: skip
    with torch.no_grad():
        for p in net.parameters():  # BatchNorm's scale and shift away from their (1, 0) start
            p.add_(0.1 * torch.randn_like(p))
    load_into(ref, [p.detach() for p in net.parameters()])
    x = images(shape=(2, 8, 8))
    assert torch.allclose(net(x), ref.train()(x), **TOL)
    assert torch.allclose(net(x.flatten(1)), net(x), **TOL)  # flat rows are reshaped to images


# ---- ResNet ---------------------------------------------------------------------------------------


def test_resnet_published_parameter_counts():
    # He et al. 2016 Table 6: ResNet-20 0.27M, ResNet-32 0.46M (the counts of the option-A network)
    assert count(build("resnet", input_shape=(3, 32, 32), outputs=10)) == 269_722
    assert count(build("resnet", input_shape=(3, 32, 32), outputs=10, depth=32)) == 464_154


def reference_resnet(net: nn.Module, x: torch.Tensor, batchnorm: bool) -> torch.Tensor:
    """The ResNet's forward written out with torch.nn layers built afresh and loaded with the
    module's parameters: conv(-BN)-ReLU stem, blocks ReLU(branch + shortcut) with the option-A
    shortcut as a strided slice concatenated with zero channels, global average pooling, linear."""
    params = [p.detach() for p in net.parameters()]

    def conv_bn(c_in, c_out, stride):
        layers = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batchnorm)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        return layers

    def take(module):
        n = len(list(module.parameters()))
        load_into(module, params[:n])
        del params[:n]
        return module.double().train()

    h = take(nn.Sequential(*conv_bn(3, 4, 1), nn.ReLU()))(x)
    c = 4
    for w in (4, 8, 16):
        for i in range(2):  # depth 14: two blocks a stage
            stride = 2 if w != 4 and i == 0 else 1
            branch = take(nn.Sequential(*conv_bn(c, w, stride), nn.ReLU(), *conv_bn(w, w, 1)))
            short = h[:, :, ::stride, ::stride]
            if w != c:
                zeros = torch.zeros(short.shape[0], (w - c) // 2, *short.shape[2:])
                short = torch.cat([zeros, short, torch.zeros(short.shape[0], w - c - (w - c) // 2, *short.shape[2:])], dim=1)
            h = torch.relu(branch(h) + short)
            c = w
    head = take(nn.Linear(16, 5))
    return head(F.adaptive_avg_pool2d(h, 1).flatten(1))


@pytest.mark.parametrize("batchnorm", [True, False])
def test_resnet_equals_a_torch_nn_composition(batchnorm):
    net = build("resnet", input_shape=(3, 8, 8), outputs=5, depth=14, width=4, batchnorm=batchnorm)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = images()
    assert torch.allclose(net(x), reference_resnet(net, x, batchnorm), **TOL)


def test_resnet_odd_width_and_odd_sides():
    net = build("resnet", input_shape=(1, 7, 9), outputs=2, depth=8, width=3)
    assert net(images(shape=(1, 7, 9))).shape == (6, 2)


# ---- VGG-11 ---------------------------------------------------------------------------------------


def test_vgg11_published_parameter_counts():
    assert count(build("vgg11", input_shape=(3, 32, 32), outputs=10)) == 9_750_922
    assert count(build("vgg11", input_shape=(3, 32, 32), outputs=10, batchnorm=True)) == 9_756_426


@pytest.mark.parametrize("batchnorm", [False, True])
def test_vgg11_equals_torch_nn(batchnorm):
    w = 2
    net = build("vgg11", input_shape=(3, 32, 32), outputs=4, width=w, batchnorm=batchnorm)
    layers: list[nn.Module] = []
    c = 3
    for v in [w, "M", 2 * w, "M", 4 * w, 4 * w, "M", 8 * w, 8 * w, "M", 8 * w, 8 * w, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), *([nn.BatchNorm2d(v)] if batchnorm else []), nn.ReLU()]
            c = v
    ref = nn.Sequential(*layers, nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    load_into(ref, [p.detach() for p in net.parameters()])
    x = images(n=3, shape=(3, 32, 32))
    assert torch.allclose(net(x), ref.train()(x), **TOL)
    conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    assert conv.bias is not None and not conv.bias.any()  # the reference code's init: zero biases


def test_vgg11_refuses_small_images():
    with pytest.raises(ValueError, match=r"at least 32×32 \(got 8×8\)"):
        factory("vgg11")(input_shape=(3, 8, 8), outputs=2)


# ---- the transformer block, the ViT, the sequence transformer ------------------------------------


def torch_layer(block: Block, dim: int, heads: int, mlp: int) -> nn.TransformerEncoderLayer:
    """torch.nn's pre-LN encoder layer carrying `block`'s parameters."""
    layer = nn.TransformerEncoderLayer(dim, heads, mlp * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True).double()
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(block.attn.qkv.weight)
        layer.self_attn.in_proj_bias.copy_(block.attn.qkv.bias)
        layer.self_attn.out_proj.weight.copy_(block.attn.proj.weight)
        layer.self_attn.out_proj.bias.copy_(block.attn.proj.bias)
        for mine, theirs in ((block.ln1, layer.norm1), (block.ln2, layer.norm2), (block.fc1, layer.linear1), (block.fc2, layer.linear2)):
            theirs.weight.copy_(mine.weight)
            theirs.bias.copy_(mine.bias)
    return layer.train()


@pytest.mark.parametrize("causal", [False, True])
def test_block_equals_torch_transformer_encoder_layer(causal):
    torch.manual_seed(1)
    dim, heads, mlp = 12, 3, 2
    block = Block(dim, heads, mlp, causal).double()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(4, 7, dim)
    mask = nn.Transformer.generate_square_subsequent_mask(7, dtype=torch.float64) if causal else None
    assert torch.allclose(block(x), torch_layer(block, dim, heads, mlp)(x, src_mask=mask, is_causal=causal), **TOL)


def test_attention_rejects_heads_that_do_not_divide():
    with pytest.raises(ValueError, match="dim = 10 is not a multiple of heads = 4"):
        Attention(10, 4, causal=False)


def test_vit_equals_torch_nn():
    net = build("vit", input_shape=(3, 8, 8), outputs=5, patch=4, dim=16, heads=4, layers=2, mlp=2, head_scale=1.0)
    x = images()
    layers = [torch_layer(b, 16, 4, 2) for b in net.blocks]
    patches = x.unfold(2, 4, 4).unfold(3, 4, 4).permute(0, 2, 3, 1, 4, 5).reshape(6, 4, 48)  # (n, patch row·col, c·4·4)
    h = patches @ net.embed.weight.reshape(16, 48).T + net.embed.bias + net.position
    for layer in layers:
        h = layer(h)
    ref = F.linear(F.layer_norm(h, (16,), net.norm.weight, net.norm.bias).mean(1), net.head.weight, net.head.bias)
    assert torch.allclose(net(x), ref, **TOL)


def test_vit_and_transformer_start_at_zero_outputs_by_default():
    """head_scale = 0 (the central-flows code's init): f ≡ 0 at θ0, every other layer initialized."""
    vit = build("vit", input_shape=(3, 8, 8), outputs=5, dim=16, heads=4, layers=1)
    assert not vit(images()).any() and vit.position.abs().sum() > 0
    tr = build("transformer", input_shape=(6,), outputs=4, dim=8, heads=2, layers=1)
    assert not tr(torch.randint(0, 4, (3, 6))).any() and tr.tokens.weight.abs().sum() > 0


@pytest.mark.parametrize("causal", [True, False])
def test_transformer_equals_torch_nn(causal):
    net = build("transformer", input_shape=(6,), outputs=5, dim=8, heads=2, layers=2, mlp=4, causal=causal, head_scale=1.0)
    tokens = torch.randint(0, 5, (3, 6), generator=torch.Generator().manual_seed(0))
    mask = nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64) if causal else None
    h = F.embedding(tokens, net.tokens.weight) + net.position
    for b in net.blocks:
        h = torch_layer(b, 8, 2, 4)(h, src_mask=mask, is_causal=causal)
    ref = F.linear(F.layer_norm(h, (8,), net.norm.weight, net.norm.bias), net.head.weight, net.head.bias)
    out = net(tokens)
    assert out.shape == (3, 6, 5)  # (n, length, vocab): a distribution at every position
    assert torch.allclose(out, ref, **TOL)
    assert torch.equal(net(tokens.double()), out)  # tokens cast to floats by a caller


@pytest.mark.parametrize("causal", [True, False])
def test_transformer_causality(causal):
    net = build("transformer", input_shape=(6,), outputs=4, dim=8, heads=2, layers=2, causal=causal, head_scale=1.0)
    a = torch.randint(0, 4, (2, 6), generator=torch.Generator().manual_seed(3))
    b = a.clone()
    b[:, 4] = (a[:, 4] + 1) % 4  # change the token at position 4
    same = torch.allclose(net(a)[:, :4], net(b)[:, :4], rtol=0, atol=0)
    assert same == causal  # causal: positions 0–3 never see position 4; otherwise they do
    assert not torch.allclose(net(a)[:, 4:], net(b)[:, 4:])


def test_transformer_default_sees_the_whole_row_as_sorting_needs():
    """data.kind = "sort": position 0's target is the row's smallest token, so position 0 must see
    the last token; at the defaults (causal = false, schema and factory alike) it does."""
    assert schema.TransformerModel.model_validate({}).causal is False
    net = build("transformer", input_shape=(6,), outputs=4, dim=8, heads=2, layers=1, head_scale=1.0)
    a = torch.randint(0, 4, (2, 6), generator=torch.Generator().manual_seed(3))
    b = a.clone()
    b[:, -1] = (a[:, -1] + 1) % 4
    assert not torch.allclose(net(a)[:, 0], net(b)[:, 0])


def test_sequence_loss_convention_is_a_mean_over_positions():
    """The documented convention (models/transformer.py): outputs (n, L, V) flattened to (n·L, V)
    against targets (n, L) flattened to (n·L,); the same as cross-entropy in torch's (n, V, L) layout,
    and a chunk of examples gives the same rows (no example sees another)."""
    net = build("transformer", input_shape=(5,), outputs=3, dim=8, heads=2, layers=1, head_scale=1.0)
    x = torch.randint(0, 3, (4, 5), generator=torch.Generator().manual_seed(0))
    y = torch.sort(x, dim=1).values
    out = net(x)
    flat_loss = F.cross_entropy(out.reshape(-1, 3), y.reshape(-1))
    assert torch.allclose(flat_loss, F.cross_entropy(out.transpose(1, 2), y), **TOL)
    chunks = torch.cat([net(x[:2]), net(x[2:])])
    assert torch.allclose(chunks, out, **TOL)
    parts = sum(F.cross_entropy(net(x[c]).reshape(-1, 3), y[c].reshape(-1), reduction="sum") for c in (slice(0, 2), slice(2, 4)))
    assert torch.allclose(parts / (4 * 5), flat_loss, **TOL)


# ---- what the engine relies on: functional_call on one θ, every AD mode, no randomness -----------

SMALL = {
    "cnn-bn": dict(input_shape=(2, 4, 4), outputs=3, channels=[3, 2]),
    "resnet": dict(input_shape=(2, 4, 4), outputs=3, depth=8, width=2),
    "vgg11": dict(input_shape=(1, 32, 32), outputs=2, width=1),
    "vit": dict(input_shape=(2, 4, 4), outputs=3, patch=2, dim=4, heads=2, layers=1, head_scale=1.0),
    "transformer": dict(input_shape=(4,), outputs=3, dim=4, heads=2, layers=1, head_scale=1.0, causal=True),  # the ViT: not causal
}


def small_data(kind: str):
    args = SMALL[kind]
    g = torch.Generator().manual_seed(5)
    if kind == "transformer":
        x = torch.randint(0, 3, (5, 4), generator=g)
        return x, torch.sort(x, dim=1).values
    return torch.randn(5, *args["input_shape"], generator=g), torch.randint(0, args["outputs"], (5,), generator=g)


def small_loss(kind: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor):
    def loss(theta: torch.Tensor) -> torch.Tensor:
        out = functional_call(net, views(net, theta), (x,))
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    return loss


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_functional_call_on_flat_theta_equals_the_module(kind):
    net = build(kind, **SMALL[kind])
    x, y = small_data(kind)
    theta = flat(net).clone().requires_grad_()
    loss = small_loss(kind, net, x, y)
    value = loss(theta)
    (g,) = torch.autograd.grad(value, theta)
    net.zero_grad()
    out = net(x)
    own = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    own.backward()
    assert math.isclose(float(value.detach()), float(own.detach()), rel_tol=1e-12)
    assert torch.allclose(g, torch.cat([p.grad.reshape(-1) for p in net.parameters()]), **TOL)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_forward_over_reverse_hvps_equal_reverse_over_reverse(kind):
    """measure.exact and the batched engine differentiate forward-over-reverse, vmapped
    (engine/curvature/hessian.py forward_over_reverse, dense_hessian), the tracker reverse-over-
    reverse: both go through every architecture, BatchNorm and LayerNorm included, and agree.
    (torch 2.13's F.batch_norm and F.layer_norm fail this: layers.BatchNorm, layers.LayerNorm.)"""
    net = build(kind, **SMALL[kind])
    x, y = small_data(kind)
    loss = small_loss(kind, net, x, y)
    theta = flat(net)
    V = torch.randn(3, theta.numel(), generator=torch.Generator().manual_seed(2))
    HV = torch.func.vmap(lambda v: forward_over_reverse(torch.func.grad(loss))(theta, v))(V)
    t = theta.clone().requires_grad_()
    (g,) = torch.autograd.grad(loss(t), t, create_graph=True)
    for v, hv in zip(V, HV):
        (ref,) = torch.autograd.grad(g @ v, t, retain_graph=True)
        assert torch.allclose(hv, ref, rtol=1e-10, atol=1e-10)
    if theta.numel() <= 400:  # the dense Hessian itself, where it is small (not the ResNet or VGG-11)
        H = dense_hessian(loss, theta)
        assert torch.allclose(H @ V[0], HV[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["cnn-bn", "resnet", "vit", "transformer"])
def test_third_derivatives_and_torch_func_hessian_are_right(kind):
    """The central flow differentiates an HVP once more, ∇(uᵀHu) (engine/central_flow.py); torch
    2.13's F.batch_norm and F.layer_norm get that wrong by O(100%), and torch.func.hessian too
    (layers.BatchNorm, layers.LayerNorm). Here: ∇(uᵀHu)·w against a central difference of uᵀHu
    along w (reverse-over-reverse, right; Richardson-extrapolated), to 1e-6 relative; torch.func.hessian against the HVPs.
    Smooth activations only: a ReLU's kink between θ ± εw makes uᵀHu jump."""
    net = build(kind, **{**SMALL[kind], **({"activation": "tanh"} if kind == "resnet" else {})})
    x, y = small_data(kind)
    loss = small_loss(kind, net, x, y)
    theta = flat(net)
    gen = torch.Generator().manual_seed(4)
    u, w = torch.randn(theta.numel(), generator=gen), torch.randn(theta.numel(), generator=gen)

    def uhu(th: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        (g,) = torch.autograd.grad(loss(th), th, create_graph=True)
        (hu,) = torch.autograd.grad(g @ u, th, create_graph=create_graph)
        return hu @ u

    t = theta.clone().requires_grad_()
    (third,) = torch.autograd.grad(uhu(t, create_graph=True), t)

    def central(eps: float) -> float:
        return float(uhu((theta + eps * w).requires_grad_()) - uhu((theta - eps * w).requires_grad_())) / (2 * eps)

    fd = (4 * central(1e-5) - central(2e-5)) / 3  # Richardson: the eps² error cancels, eps⁴ is left
    assert math.isclose(float(third @ w), fd, rel_tol=1e-6)
    if theta.numel() <= 400:
        H = torch.func.hessian(loss)(theta)
        (g,) = torch.autograd.grad(loss(t), t, create_graph=True)
        (hu,) = torch.autograd.grad(g @ u, t)
        assert torch.allclose(H @ u, hu, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_no_randomness_and_batchnorm_is_named(kind):
    net = build(kind, **SMALL[kind])
    x, _ = small_data(kind)
    assert random_layers(net) == []
    assert torch.equal(net(x), net(x))
    assert not list(net.buffers())  # nothing beside θ: BatchNorm keeps no running statistics
    named = batch_dependent_layers(net)
    assert bool(named) == (kind in ("cnn-bn", "resnet"))  # SMALL's vgg11 is without BatchNorm
    if not named:  # per-example networks: a chunk of examples gives the same rows
        assert torch.allclose(torch.cat([net(x[:2]), net(x[2:])]), net(x), **TOL)


# ---- the scenario: keys, counts, refusals ---------------------------------------------------------


def test_every_architecture_has_a_config_and_a_factory_that_takes_its_keys():
    """The dispatch contract (build_problem): make(input_shape=, outputs=, **the section's fields
    except kind and init_scale) — at every kind's defaults."""
    configs = {c.model_fields["kind"].default: c for c in schema.ARCHITECTURE_MODELS}
    assert set(configs) == set(ARCHITECTURES)
    shapes = {"transformer": (7,), "vgg11": (3, 32, 32)}
    for kind, cls in configs.items():
        if kind == "vgg11":
            continue  # 9.75M parameters at the defaults: its keys are taken below at width 1
        cfg = cls.model_validate({})
        args = cfg.model_dump(exclude={"kind", "init_scale"})
        shape = shapes.get(kind, (3, 8, 8))
        net = factory(kind)(input_shape=shape, outputs=4, **args)
        assert count(net) == cfg.parameters(shape, 4), kind
    vgg = configs["vgg11"].model_validate({"width": 1})
    assert count(factory("vgg11")(input_shape=(3, 32, 32), outputs=4, **vgg.model_dump(exclude={"kind", "init_scale"}))) == vgg.parameters(
        (3, 32, 32), 4
    )
    # at the published defaults, without building the 9.75M-parameter network
    assert configs["vgg11"].model_validate({}).parameters((3, 32, 32), 10) == 9_750_922
    assert configs["resnet"].model_validate({}).parameters((3, 32, 32), 10) == 269_722


@pytest.mark.parametrize(
    "kind, model, shape",
    [
        ("cnn-bn", 'channels = [3, 5]\nbias = false\npooling = "average"\n', (2, 9, 7)),
        ("resnet", "depth = 8\nwidth = 3\nbatchnorm = false\n", (1, 7, 9)),
        ("resnet", "depth = 14\nwidth = 5\n", (3, 8, 8)),
        ("vgg11", "width = 2\nbatchnorm = true\n", (3, 33, 40)),
        ("vit", "patch = 2\ndim = 6\nheads = 3\nlayers = 2\nmlp = 3\n", (3, 8, 6)),
    ],
)
def test_schema_parameter_count_equals_the_module(tmp_path, kind, model, shape):
    arm = load(arch_toml(npz_images(tmp_path, shape), kind, model)).arms[0]
    args = arm.model.model_dump(exclude={"kind", "init_scale"})
    assert arm.example_shape() == shape and arm.network_outputs() == 3
    assert count(factory(kind)(input_shape=shape, outputs=3, **args)) == arm.parameter_count()
    # the resource estimate and the thread choice see it too (they assumed an MLP's hidden widths)
    assert resources.estimate_arm(arm).params == arm.parameter_count()
    assert matrix_work(arm) > 0


def test_transformer_counts_without_data_helpers():
    cfg = schema.TransformerModel.model_validate({"dim": 8, "heads": 2, "layers": 3, "mlp": 2})
    assert count(factory("transformer")(input_shape=(11,), outputs=6, **cfg.model_dump(exclude={"kind", "init_scale"}))) == cfg.parameters(
        (11,), 6
    )


@pytest.mark.parametrize(
    "kind, model, shape, message",
    [
        (
            "resnet",
            "depth = 21\n",
            (3, 8, 8),
            r"model\.depth: a CIFAR ResNet's depth is 6k\+2 with k ≥ 1 \(20, 32, 44, 56, 110\) \(got 21\)$",
        ),
        ("resnet", "depth = 2\n", (3, 8, 8), r"model\.depth: a CIFAR ResNet's depth .* \(got 2\)$"),
        ("vgg11", "", (3, 8, 8), r"model\.kind: 'vgg11' pools 2×2 five times: it needs images of at least 32×32 \(got 8×8\)"),
        ("vit", "patch = 3\n", (3, 8, 8), r"model\.patch: must divide the images' sides: 3 does not divide 8×8"),
        ("vit", "dim = 10\nheads = 4\n", (3, 8, 8), r"model\.heads: must divide model\.dim = 10 \(got 4\)"),
        (
            "cnn-bn",
            "channels = [1, 1, 1, 1]\n",
            (3, 8, 8),
            r"model\.channels: 4 convolutions pool the 8×8 images 2×2 that many times: at most 3",
        ),
        ("resnet", "hidden = [3]\n", (3, 8, 8), r"model\.hidden.*does not apply to kind 'resnet'"),
        ("transformer", "", (3, 8, 8), r"model\.kind: 'transformer' needs token sequences: data\.kind = 'sort' \(got 'npz'\)"),
        ("vit", "", (12,), r"'vit' needs image data, but X in .* has flat rows"),
    ],
)
def test_refusals_are_one_line_naming_the_key(tmp_path, kind, model, shape, message):
    with pytest.raises(ScenarioError, match=message) as e:
        load(arch_toml(npz_images(tmp_path, shape), kind, model))
    assert "Traceback" not in str(e.value)


@pytest.mark.parametrize("kind", ["cnn-bn", "resnet", "vgg11", "vit"])
def test_image_models_refuse_flat_data(kind):
    with pytest.raises(ScenarioError, match=rf"model\.kind: '{kind}' needs image data: data\.kind = 'cifar10'.*\(got 'random-labels'\)"):
        load(f'[optimizer]\nlr = 0.1\n[model]\nkind = "{kind}"\n')


def test_cross_entropy_and_sgd_are_allowed_on_architectures(tmp_path):
    arm = load(arch_toml(npz_images(tmp_path), "cnn-bn", "channels = [2]\n", loss="cross-entropy")).arms[0]
    assert arm.loss == "cross-entropy"
    text = arch_toml(npz_images(tmp_path), "resnet", "depth = 8\nwidth = 2\n").replace(
        "lr = 0.01\n", 'kind = "sgd"\nlr = 0.01\nbatch_size = 4\n'
    )
    assert load(text).arms[0].optimizer.kind == "sgd"


def test_docs_parameter_counts_are_the_schemas():
    """docs/architectures.md's table gives each kind's count at its defaults (CIFAR-10, 10 classes;
    the transformer on sort's length 8, vocabulary 4): the schema's, which equal the modules'."""
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[3]
        for line in (Path(__file__).parents[1] / "docs" / "architectures.md").read_text().splitlines()
        if line.startswith("| `")
    }
    configs = {c.model_fields["kind"].default: c.model_validate({}) for c in schema.ARCHITECTURE_MODELS}
    for kind, cfg in configs.items():
        shape, outputs = ((8,), 4) if kind == "transformer" else ((3, 32, 32), 10)
        assert f"{cfg.parameters(shape, outputs):,}" in rows[kind], kind
    plain = count(cnn.make(input_shape=(3, 32, 32), outputs=10))
    assert f"{plain:,}" in rows["cnn"]


def test_transformer_on_sort_counts_its_parameters():
    """The transformer's scenario path: input shape (length,), outputs = the vocabulary, the schema's
    count the module's. data.kind = "sort" lands with the data helper's branch: skipped before."""
    if "sort" not in schema.KINDS["data"]:
        pytest.skip("data.kind = 'sort' is not in this tree yet")
    text = (
        'dtype = "float64"\ndevice = "cpu"\nloss = "cross-entropy"\n[optimizer]\nlr = 0.01\n'
        '[model]\nkind = "transformer"\ndim = 8\nheads = 2\nlayers = 1\n[data]\nkind = "sort"\nn = 16\nlength = 5\nvocab = 3\n'
    )
    arm = load(text).arms[0]
    assert arm.example_shape() == (5,) and arm.network_outputs() == 3
    net = factory("transformer")(input_shape=(5,), outputs=3, **arm.model.model_dump(exclude={"kind", "init_scale"}))
    assert count(net) == arm.parameter_count()
    assert resources.estimate_arm(arm).params == arm.parameter_count() and matrix_work(arm) > 0


def test_schema_defaults_are_the_factories_defaults():
    """A scenario that omits a key gets what calling the factory without it gives (a drift here
    would make `eos-tui show` and the docs disagree with what a library user builds)."""
    for cls in schema.ARCHITECTURE_MODELS:
        kind = cls.model_fields["kind"].default
        fn = cnn.make if kind == "cnn-bn" else factory_of(kind)  # make_bn is make with batchnorm=True
        defaults = {
            name: p.default
            for name, p in inspect.signature(fn).parameters.items()
            if name not in ("input_shape", "outputs", "batchnorm" if kind == "cnn-bn" else "")
        }
        config = cls.model_validate({}).model_dump(exclude={"kind", "init_scale"})
        assert {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()} == config, kind
