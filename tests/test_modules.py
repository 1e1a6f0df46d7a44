"""A torch.nn.Module as a flat-θ problem (engine/modules.py) and the Python factories of a scenario
(`model.kind = "python"`, `data.kind = "python"`): exactness against the module's own autograd,
the honesty refusals (BatchNorm under chunking, dropout), and the trust gate (--trust-code).

All in float64 on the CPU; each run a few dozen steps of a network of a few dozen parameters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from eos_tui.engine.arm import Arm
from eos_tui.engine.batched import batch_key
from eos_tui.engine.curvature.hessian import HessianOperator, dense_hessian
from eos_tui.engine.curvature.lanczos import top_eigenpairs
from eos_tui.engine.errors import ScenarioRefused
from eos_tui.engine.modules import ModuleProblem
from eos_tui.engine.problems import build_problem
from eos_tui.engine.runner import run_scenario
from eos_tui.rundir import read_manifest
from eos_tui.rundir.prepare import prepare_run
from eos_tui.rundir.reader import read_records
from eos_tui.scenario import ScenarioError, load_scenario, load_scenario_text

from .helpers import CPU, by_arm, eos

# The user's file: a small tanh network (optionally with BatchNorm or dropout), and its data. It
# writes a sentinel file when imported, so that a test can tell whether anything imported it.
MODELS = """
import os
from pathlib import Path

import torch
from torch import nn

Path(os.environ.get("EOS_SENTINEL", Path(__file__).with_name("imported"))).write_text("imported")


def make(*, input_shape, outputs, width=6, norm=False, dropout=0.0, eval=False):
    (dim,) = input_shape
    layers = [nn.Linear(dim, width)]
    if norm:
        layers.append(nn.BatchNorm1d(width))
    layers.append(nn.Tanh())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, outputs))
    net = nn.Sequential(*layers)
    if norm:  # running statistics that are not the defaults, so that eval mode has something to use
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net.eval() if eval else net


def data(n=24, dim=4, classes=3, test=True):
    X = torch.randn(n, dim)
    y = torch.randint(0, classes, (n,))
    if not test:
        return X, y
    return X, y, torch.randn(8, dim), torch.randint(0, classes, (8,))


def regression(n=20, dim=3):
    X = torch.randn(n, dim, dtype=torch.float64)
    return X, torch.sin(X.sum(dim=1))


class Tagger(nn.Module):
    # Per-position class scores of a token sequence: an embedding and a linear read-out.

    def __init__(self, vocab, length, width):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.mix = nn.Linear(width * length, width * length)
        self.out = nn.Linear(width, vocab)
        self.length, self.width = length, width

    def forward(self, x):
        h = torch.tanh(self.mix(self.embed(x).flatten(1))).view(x.shape[0], self.length, self.width)
        return self.out(h)


def tagger(*, input_shape, outputs, width=3):
    (length,) = input_shape
    return Tagger(outputs, length, width)


def sort_data(n=12, length=4, vocab=5):
    X = torch.randint(0, vocab, (n, length))
    return X, X.sort(dim=1).values


def broken(**kwargs):
    raise RuntimeError("no GPU here\\nsecond line")


def bad_data(what="list"):
    X = torch.randn(10, 3)
    return {
        "list": [X],
        "rows": (X, torch.zeros(9)),
        "nan": (X * float("nan"), torch.zeros(10)),
        "float-ce": (X, torch.zeros(10)),
        "negative": (X, -torch.ones(10, dtype=torch.int64)),
    }[what]
"""

SCENARIO = """
name = "own"
dtype = "float64"
device = "cpu"
steps = 24
loss = "{loss}"
[model]
kind = "python"
factory = "models.py:make"
args = {{ width = 6{margs} }}
[data]
kind = "python"
factory = "models.py:{data}"
[optimizer]
lr = 0.2
[measure]
sharpness_every = 4
checkpoint_every = 8
{measure}
[engine]
threads = 1
{engine}
"""


def write(folder: Path, *, loss="cross-entropy", margs="", data="data", measure="", engine="") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.py").write_text(MODELS)
    path = folder / "own.toml"
    path.write_text(SCENARIO.format(loss=loss, margs=margs, data=data, measure=measure, engine=engine))
    return path


def arm(folder: Path, **kwargs) -> Arm:
    return Arm(load_scenario(str(write(folder, **kwargs))).arms[0], CPU)


def reference(folder: Path, theta: torch.Tensor, problem: ModuleProblem, **make_args) -> nn.Module:
    """The user's network built directly from the factory, its parameters set to θ."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ref_models", folder / "models.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.make(input_shape=(problem.X.shape[1],), outputs=make_args.pop("outputs"), width=6, **make_args).double()
    torch.nn.utils.vector_to_parameters(theta.detach().clone(), net.parameters())
    return net


@pytest.mark.parametrize("norm", [False, True])
def test_loss_gradient_and_hvp_equal_the_modules_own_autograd(tmp_path, norm):
    """functional_call on views of θ is the module's own function: loss, gradient and H·v to 1e-12
    (BatchNorm in training mode on the full batch too, whose running statistics stay untouched)."""
    a = arm(tmp_path, margs=", norm = true" if norm else "")
    p = a.problem
    assert isinstance(p, ModuleProblem) and p.theta0.dtype == torch.float64
    gen = torch.Generator().manual_seed(3)
    theta = p.theta0 + 0.3 * torch.randn(p.dim, generator=gen, dtype=torch.float64)
    v = torch.randn(p.dim, generator=gen, dtype=torch.float64)
    net = reference(tmp_path, theta, p, outputs=3, norm=norm)
    params = list(net.parameters())
    loss_ref = nn.functional.cross_entropy(net(p.X), p.Y)
    g_ref = torch.autograd.grad(loss_ref, params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in g_ref])
    hv_ref = torch.cat([h.reshape(-1) for h in torch.autograd.grad(flat @ v, params)])
    buffers = {k: b.clone() for k, b in p.fixed.items()}

    th = theta.clone().requires_grad_(True)
    loss = p.loss(th)
    (g,) = torch.autograd.grad(loss, th)
    hv = HessianOperator(p.loss, theta)(v)
    assert abs(float(loss.detach()) - float(loss_ref.detach())) <= 1e-12
    assert float((g - flat.detach()).abs().max()) <= 1e-12
    assert float((hv - hv_ref).abs().max()) <= 1e-12 * max(1.0, float(hv_ref.abs().max()))
    assert all(torch.equal(buffers[k], b) for k, b in p.fixed.items())  # no measurement moved a buffer


def test_dense_hessian_top_eigenvalue_equals_lanczos(tmp_path):
    """λ_max from our Lanczos on the module's HVPs equals eigvalsh of the dense Hessian to 1e-8."""
    p = arm(tmp_path).problem
    theta = p.theta0 + 0.5 * torch.randn(p.dim, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    exact = torch.linalg.eigvalsh(dense_hessian(p.loss, theta))[-1]
    got = top_eigenpairs(
        HessianOperator(p.loss, theta), p.dim, 1, tol=1e-12, max_iter=p.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    assert abs(float(got.eigenvalues[0]) - float(exact)) <= 1e-8 * abs(float(exact))


def test_the_same_seed_gives_the_same_theta0_in_float32_and_float64(tmp_path):
    sc = load_scenario(str(write(tmp_path)))
    a64 = build_problem(sc.arms[0], CPU)
    a32 = build_problem(sc.arms[0].model_copy(update={"dtype": "float32"}), CPU)
    assert a32.theta0.dtype == torch.float32
    assert torch.equal(a32.theta0, a64.theta0.float())
    assert torch.equal(build_problem(sc.arms[0], CPU).theta0, a64.theta0)  # and the same again


def test_chunked_loss_equals_the_full_one(tmp_path):
    whole = arm(tmp_path / "a").problem
    chunked = arm(tmp_path / "b", engine="chunk_size = 5").problem
    assert chunked.loss_parts() is not None and whole.loss_parts() is None
    theta = whole.theta0
    assert abs(float(whole.loss(theta)) - float(chunked.loss(theta))) <= 1e-13
    v = torch.ones_like(theta)
    H1 = HessianOperator(whole.loss, theta)(v)
    H2 = HessianOperator(chunked.loss, theta, parts=chunked.loss_parts())(v)
    assert float((H1 - H2).abs().max()) <= 1e-12


def test_batchnorm_under_chunking_is_refused_naming_the_layers_and_the_key(tmp_path):
    with pytest.raises(ScenarioRefused, match=r"engine.chunk_size = 5 .*layers 1 \(BatchNorm1d\) normalize .*drop engine.chunk_size"):
        arm(tmp_path, margs=", norm = true", engine="chunk_size = 5")
    arm(tmp_path / "whole", margs=", norm = true", engine="chunk_size = 24")  # one chunk: the full batch


def test_eval_mode_batchnorm_and_dropout_are_per_example_so_chunking_is_exact(tmp_path):
    """In eval mode BatchNorm uses its running statistics and dropout is off: the loss is per example,
    chunks are exact (to 1e-12 against the full batch), and nothing is refused."""
    whole = arm(tmp_path / "a", margs=", norm = true, dropout = 0.5, eval = true").problem
    chunked = arm(tmp_path / "b", margs=", norm = true, dropout = 0.5, eval = true", engine="chunk_size = 5").problem
    assert whole.batch_dependent == [] and chunked.loss_parts() is not None
    theta = whole.theta0
    assert abs(float(whole.loss(theta)) - float(chunked.loss(theta))) <= 1e-12
    v = torch.randn(whole.dim, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    H1, H2 = HessianOperator(whole.loss, theta)(v), HessianOperator(chunked.loss, theta, parts=chunked.loss_parts())(v)
    assert float((H1 - H2).abs().max()) <= 1e-12 * max(1.0, float(H1.abs().max()))
    # the running statistics are used (another loss than training mode's) and never moved
    train = arm(tmp_path / "c", margs=", norm = true").problem
    assert abs(float(train.loss(theta)) - float(whole.loss(theta))) > 1e-6
    before = {k: b.clone() for k, b in whole.fixed.items()}
    whole.loss(theta)
    assert all(torch.equal(before[k], b) for k, b in whole.fixed.items())


def test_dropout_is_refused_with_its_reason(tmp_path):
    with pytest.raises(ScenarioRefused, match=r"differs between two evaluations.*active dropout: layers 2 \(Dropout\)"):
        arm(tmp_path, margs=", dropout = 0.5")


def test_module_arms_never_batch_and_reparam_is_skipped_with_its_reason(tmp_path):
    a = arm(tmp_path, measure="reparam_every = 4")
    assert batch_key(a) is None
    records = a.begin()
    while a.status is None:
        records += a.step()
    skipped = [r for r in records if r.get("kind") == "reparam_skipped"]
    assert len(skipped) == 1 and "built by code" in skipped[0]["message"]


def test_data_factory_results_are_checked_in_one_line(tmp_path):
    cases = {
        "list": "returned a list of 1; expected (X, y)",
        "rows": "y has shape (9,); expected 10 rows",
        "nan": "X has values that are not finite",
        "float-ce": "'cross-entropy' needs integer class labels",
        "negative": "class labels must be ≥ 0",
    }
    for what, message in cases.items():
        path = write(tmp_path / what, data="bad_data")
        path.write_text(
            path.read_text().replace('factory = "models.py:bad_data"', f'factory = "models.py:bad_data"\nargs = {{what = "{what}"}}')
        )
        with pytest.raises(ScenarioRefused) as e:
            Arm(load_scenario(str(path)).arms[0], CPU)
        assert "data.factory" in str(e.value) and message in str(e.value) and "\n" not in str(e.value), str(e.value)


@pytest.mark.parametrize("loss", ["cross-entropy", "mse"])
def test_a_sequence_task_is_the_mean_over_its_tokens(tmp_path, loss):
    """Integer tokens in, a label per position out (a sort task): cross-entropy is the mean over every
    token, mse the mean over sequences of ½‖f(x) − onehot(y)‖² over all positions; chunked the same."""
    path = write(tmp_path, loss=loss, data="sort_data")
    path.write_text(path.read_text().replace("models.py:make", "models.py:tagger").replace("width = 6", "width = 3"))
    sc = load_scenario(str(path))
    p = Arm(sc.arms[0], CPU).problem
    assert p.X.dtype == torch.int64 and p.Y.shape == ((12, 4) if loss == "cross-entropy" else (12, 4, 5))
    theta = p.theta0 + 0.2 * torch.randn(p.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = p.forward(theta, p.X)
    assert out.shape == (12, 4, 5)
    if loss == "cross-entropy":
        expected = nn.functional.cross_entropy(out.reshape(-1, 5), p.Y.reshape(-1))
    else:
        expected = 0.5 * ((out - p.Y) ** 2).sum() / 12
    assert abs(float(p.loss(theta)) - float(expected)) <= 1e-12
    chunked = build_problem(sc.arms[0].model_copy(update={"engine": sc.arms[0].engine.model_copy(update={"chunk_size": 5})}), CPU)
    v = torch.randn(p.dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert abs(float(chunked.loss(theta)) - float(expected)) <= 1e-12
    hv, hv_chunked = HessianOperator(p.loss, theta)(v), HessianOperator(chunked.loss, theta, parts=chunked.loss_parts())(v)
    assert float((hv - hv_chunked).abs().max()) <= 1e-12 * max(1.0, float(hv.abs().max()))


def test_regression_targets_and_a_one_column_output(tmp_path):
    a = arm(tmp_path, loss="mse", data="regression")
    assert a.problem.Y.shape == (20, 1) and a.problem.X_test is None
    assert float(a.problem.loss(a.problem.theta0)) > 0


def test_a_factory_that_raises_is_one_line(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("models.py:make", "models.py:broken"))
    with pytest.raises(ScenarioRefused, match=r"^model.factory '.*models.py:broken' raised RuntimeError: no GPU here second line$"):
        Arm(load_scenario(str(path)).arms[0], CPU)
    r = eos("run", str(path), "--headless", "--trust-code", "--out", str(tmp_path / "run"), cwd=tmp_path, columns="1000")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("eos-tui: model.factory") and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()  # a refusal leaves no run behind


def test_schema_factory_references(tmp_path):
    write(tmp_path)
    bad = {
        "models.py": "model.factory: must be 'FILE.py:function'",
        "missing.py:make": "missing.py: no such file",
        "models.py:not-a-name": "is not a function name",
    }
    text = (tmp_path / "own.toml").read_text().replace("width = 6", "width = 6, outputs = 2")
    (tmp_path / "x.toml").write_text(text)
    with pytest.raises(ScenarioError, match=r"model.args: outputs is given to the factory from the data; remove it from model.args"):
        load_scenario(str(tmp_path / "x.toml"))
    for ref, message in bad.items():
        text = (tmp_path / "own.toml").read_text().replace("models.py:make", ref)
        (tmp_path / "x.toml").write_text(text)
        with pytest.raises(ScenarioError, match=message.replace("(", r"\(")):
            load_scenario(str(tmp_path / "x.toml"))
    # a module reference is kept as it is; a file one is absolute, relative to the scenario's folder
    sc = load_scenario(str(tmp_path / "own.toml"), overrides=['data.factory="some.module:fn"'])
    assert sc.arms[0].data.factory == "some.module:fn"
    assert sc.arms[0].model.factory == f"{tmp_path / 'models.py'}:make"


def test_architecture_dispatch_calls_the_registered_factory(monkeypatch):
    """A model.kind in eos_tui.models.ARCHITECTURES: its make(input_shape=, outputs=, **fields but
    kind, init_scale, init, description), then ModuleProblem, θ0 × init_scale; no code to trust."""
    import eos_tui.models as models

    calls = []

    def make(*, input_shape, outputs, width, description=None):
        assert description is None
        calls.append((input_shape, outputs, width))
        return nn.Sequential(nn.Linear(input_shape[0], width), nn.Tanh(), nn.Linear(width, outputs))

    monkeypatch.setattr(models, "ARCHITECTURES", {"toy": "tests.test_modules:_TOY"})
    monkeypatch.setitem(globals(), "_TOY", make)
    base = load_scenario_text(
        'name = "toy"\ndtype = "float64"\n[data]\nkind = "random-labels"\nn = 12\ndim = 5\nclasses = 3\n[optimizer]\nlr = 0.1\n',
        source="<test>",
    ).arms[0]

    class Toy(SimpleNamespace):
        def model_dump(self):
            return dict(vars(self))

    spec = base.model_copy(update={"model": Toy(kind="toy", width=7, init_scale=2.0, description="ignored")})
    p = build_problem(spec, CPU)
    assert isinstance(p, ModuleProblem) and calls == [((5,), 3, 7)] and p.dim == 5 * 7 + 7 + 7 * 3 + 3
    with torch.random.fork_rng():
        torch.manual_seed(int(spec.seed))
        torch.set_default_dtype(torch.float64)
        try:
            net = make(input_shape=(5,), outputs=3, width=7)
        finally:
            torch.set_default_dtype(torch.float32)
    assert torch.equal(p.theta0, 2.0 * torch.nn.utils.parameters_to_vector(net.parameters()))
    assert p.code == []


_TOY = None  # set by the dispatch test


# ---- whole runs: headless, resume, landscape, central flow, the manifest ------------------------------


def test_a_python_scenario_runs_resumes_bit_for_bit_and_its_landscape_and_central_flow_run(tmp_path):
    path = write(tmp_path / "code", measure="central_flow = true", loss="mse")
    (tmp_path / "code" / "imported").unlink(missing_ok=True)
    sc = load_scenario(str(path))
    ref_dir = prepare_run(sc, out=tmp_path / "ref")
    assert run_scenario(sc, ref_dir)[0] == "completed"
    ref = by_arm(read_records(ref_dir))
    assert any(r["type"] == "flow" for r in ref["main"])  # the central flow ran beside GD

    manifest = read_manifest(ref_dir)
    entry = manifest["arms"]["main"]
    import hashlib

    digest = hashlib.sha256((tmp_path / "code" / "models.py").read_bytes()).hexdigest()
    assert entry["parameters"] == 4 * 6 + 6 + 6 * 3 + 3
    assert entry["code"] == [
        {
            "key": "model.factory",
            "factory": f"{tmp_path / 'code' / 'models.py'}:make",
            "file": str(tmp_path / "code" / "models.py"),
            "sha256": digest,
        },
        {
            "key": "data.factory",
            "factory": f"{tmp_path / 'code' / 'models.py'}:data",
            "file": str(tmp_path / "code" / "models.py"),
            "sha256": digest,
        },
    ]

    # Interrupted at step 11 and resumed from another folder with --trust-code: the same records, bit for bit.
    from eos_tui.engine.runner import StopRequest

    nocf = write(tmp_path / "code2", loss="mse")
    sc = load_scenario(str(nocf))
    full = prepare_run(sc, out=tmp_path / "full")
    assert run_scenario(sc, full)[0] == "completed"
    run_dir = prepare_run(sc, out=tmp_path / "cut")
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == 11 for r in recs):
            stop.request()

    assert run_scenario(sc, run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = eos("resume", str(run_dir), "--json", cwd=elsewhere)
    assert r.returncode == 2 and "--trust-code" in r.stderr and str(run_dir / "scenario.toml") in r.stderr
    r = eos("resume", str(run_dir), "--json", "--trust-code", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert by_arm(read_records(run_dir)) == by_arm(read_records(full))

    # The landscape between two end points (two arms of one run), asked again for the flag.
    # data.seed fixed: the same data for both arms, their networks drawn from seeds 0 and 1.
    two = nocf.read_text().replace('factory = "models.py:data"', 'factory = "models.py:data"\nseed = 0')
    two += '\n[[arm]]\nname = "a"\n[[arm]]\nname = "b"\nseed = 1\n'
    (tmp_path / "code2" / "two.toml").write_text(two)
    sc = load_scenario(str(tmp_path / "code2" / "two.toml"))
    land = prepare_run(sc, out=tmp_path / "land")
    assert run_scenario(sc, land)[0] == "completed"
    r = eos("landscape", str(land), "--points", "5", "--json", cwd=elsewhere)
    assert r.returncode == 2 and "--trust-code" in r.stderr
    r = eos("landscape", str(land), "--points", "5", "--json", "--trust-code", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    line, ends = out["line"], {e["arm"]: e for e in out["ends"]}
    assert len(line["t"]) == 5 and line["t"][1] == 0.0 and line["t"][3] == 1.0
    assert line["loss"][1] == ends["a"]["loss"] and line["loss"][3] == ends["b"]["loss"]
    assert all(0 < ends[k]["sharpness"] < 1e3 for k in "ab")


def test_resume_refuses_a_factory_file_edited_since_the_run_began(tmp_path):
    """The checkpoints are θ of the network the old file built: a changed file (its SHA-256 against
    the manifest's) is refused, the run left as it was."""
    from eos_tui.engine.runner import StopRequest

    path = write(tmp_path / "code", loss="mse")
    sc = load_scenario(str(path))
    run_dir = prepare_run(sc, out=tmp_path / "cut")
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == 9 for r in recs):
            stop.request()

    assert run_scenario(sc, run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    before = sorted((p.name, p.stat().st_size) for p in run_dir.rglob("*"))
    models = tmp_path / "code" / "models.py"
    models.write_text(models.read_text() + "\n# edited\n")
    r = eos("resume", str(run_dir), "--trust-code", cwd=tmp_path, columns="1000")
    assert r.returncode == 2, r.stderr
    assert f"{models} (model.factory of arm 'main') has changed since the run began" in r.stderr, r.stderr
    assert sorted((p.name, p.stat().st_size) for p in run_dir.rglob("*")) == before


# ---- trust: nothing imported or written without --trust-code; readers never import ---------------------


def _clean(folder: Path) -> None:
    (folder / "imported").unlink(missing_ok=True)


def test_every_command_that_would_import_code_refuses_without_the_flag(tmp_path):
    path = write(tmp_path / "code")
    code = tmp_path / "code"
    sweep = tmp_path / "code" / "sweep.toml"
    sweep.write_text('scenario = "own.toml"\n[[grid]]\nkey = "optimizer.lr"\nvalues = [0.1, 0.2]\n')
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for args in (
        ("run", str(path), "--headless"),
        ("run", str(path), "--detach"),
        ("run", str(path)),  # the app: refused before it asks for a terminal
        ("run", str(path), "--json"),
        ("sweep", str(sweep), "--out", str(cwd / "sweep")),
    ):
        _clean(code)
        r = eos(*args, cwd=cwd)
        assert r.returncode == 2, (args, r.stderr)
        line = r.stderr.strip()
        assert len(line.splitlines()) == 1 and "--trust-code" in line and "own.toml" in line, (args, line)
        assert not (code / "imported").exists(), args  # nothing imported
        assert list(cwd.iterdir()) == [], args  # nothing written
    r = eos("serve", str(path), cwd=cwd)
    assert r.returncode == 2 and "serve does not run" in r.stderr and not (code / "imported").exists()
    assert list(cwd.iterdir()) == []


def test_readers_never_import_the_code(tmp_path):
    path = write(tmp_path / "code")
    code = tmp_path / "code"
    runs = tmp_path / "runs"
    r = eos("run", str(path), "--headless", "--trust-code", "--out", str(runs / "own"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (code / "imported").exists()  # the run imported it
    _clean(code)
    run_dir = runs / "own"
    for args in (
        ("export", str(run_dir), "--format", "jsonl"),
        ("runs", str(runs)),
        ("watch", str(run_dir)),  # no terminal here: refused, having read the run only
        ("validate", str(path)),
        ("plot", str(run_dir), "-o", str(tmp_path / "fig.png")),
    ):
        r = eos(*args, cwd=tmp_path)
        assert not (code / "imported").exists(), (args, r.stderr)
    assert "main" in eos("export", str(run_dir), "--format", "jsonl", cwd=tmp_path).stdout
    assert (tmp_path / "fig.png").stat().st_size > 0  # plot read the run (and made its figure)
    # serve on a run directory resolves it by reading its manifest only
    from eos_tui.cli.serve import resolve_target

    assert resolve_target(str(run_dir)) == (run_dir, None) and not (code / "imported").exists()


def test_a_sweep_over_a_factory_argument_runs_with_the_flag_and_sweep_show_never_imports(tmp_path):
    """A grid over model.args.width (a factory's argument, as --set model.args.width=3 takes it):
    each point builds its own network; `sweep show` then reads the points without importing."""
    write(tmp_path / "code")
    code = tmp_path / "code"
    sweep = code / "widths.toml"
    sweep.write_text('scenario = "own.toml"\nset = ["steps=8"]\n[[grid]]\nkey = "model.args.width"\nvalues = [3, 5]\n')
    out = tmp_path / "sweep"
    r = eos("sweep", str(sweep), "--jobs", "1", "--out", str(out), "--trust-code", "--json", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    _clean(code)
    r = eos("sweep", "show", str(out), "--csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (code / "imported").exists()
    assert len([line for line in r.stdout.splitlines() if line.strip()]) == 3, r.stdout  # a header and the two points
    params = sorted(read_manifest(m.parent)["arms"]["main"]["parameters"] for m in out.rglob("manifest.json"))
    assert params == [4 * 3 + 3 + 3 * 3 + 3, 4 * 5 + 5 + 5 * 3 + 3]


def test_set_one_factory_argument(tmp_path):
    path = write(tmp_path)
    sc = load_scenario(str(path), overrides=["model.args.width=3", "model.args.norm=true"])
    assert sc.arms[0].model.args == {"width": 3, "norm": True}
    for bad, message in (("model.args={width=3}", "set one argument at a time"), ("model.args.width.x=3", "--set model.args.width=VALUE")):
        with pytest.raises(ScenarioError, match=re.escape(message)):
            load_scenario(str(path), overrides=[bad])


def test_the_app_path_marks_a_failing_factory_failed(tmp_path):
    """run --detach: the engine process imports the factory, which raises: the manifest says "failed"
    with the one line."""
    import time

    path = write(tmp_path / "code")
    path.write_text(path.read_text().replace("models.py:make", "models.py:broken"))
    r = eos("run", str(path), "--detach", "--trust-code", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        m = read_manifest(tmp_path / "run") or {}
        if m.get("status") == "failed":
            break
        time.sleep(0.2)
    assert m.get("status") == "failed", m
    assert "models.py:broken' raised RuntimeError: no GPU here second line" in m["error"]


def test_the_resolved_scenario_names_the_factory_by_absolute_path(tmp_path):
    path = write(tmp_path / "code")
    sc = load_scenario(str(path))
    run_dir = prepare_run(sc, out=tmp_path / "run")
    text = (run_dir / "scenario.toml").read_text()
    assert f'factory = "{tmp_path / "code" / "models.py"}:make"' in text
    again = load_scenario_text(text, source="x")
    assert again.arms[0].model.factory == sc.arms[0].model.factory
    assert again.arms[0].model.args == {"width": 6}
