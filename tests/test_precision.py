"""The numerical settings a run is measured under (engine/precision.py), their record in the manifest,
and the Lanczos solver's host transfers (one per iteration). No GPU here: the CUDA flags are plain
torch.backends switches, settable and readable on a CPU-only build."""

from __future__ import annotations

import json

import pytest
import torch

from eos_tui.engine import precision
from eos_tui.engine.curvature.lanczos import top_eigenpairs
from eos_tui.engine.runner import run_scenario, versions
from tests.helpers import scenario


@pytest.fixture
def restore_flags():
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.get_float32_matmul_precision(),
    )
    yield
    (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        _,
    ) = saved
    torch.set_float32_matmul_precision(saved[4])


def test_configure_turns_tf32_off_and_cudnn_deterministic(restore_flags, monkeypatch):
    # the settings a CUDA build may default to (or a user's code may have left on)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("medium")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    got = precision.configure([torch.device("cuda", 0)])
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert torch.get_float32_matmul_precision() == "highest"
    assert got == {
        "float32_matmul_precision": "highest",
        "cuda_matmul_allow_tf32": False,
        "cudnn_allow_tf32": False,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "cublas_workspace_config": ":4096:8",
    }


def test_cpu_runs_leave_the_cublas_setting_alone(restore_flags, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    assert precision.configure([torch.device("cpu")])["cublas_workspace_config"] is None


def test_versions_name_cuda_where_the_build_has_it(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    assert "cuda" not in versions()
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 90100)
    v = versions()
    assert v["cuda"] == "12.4" and v["cudnn"] == "90100" and v["torch"] == torch.__version__


def test_the_manifest_records_the_precision_settings(tmp_path, restore_flags):
    torch.backends.cuda.matmul.allow_tf32 = True
    sc = scenario('name = "p"\nsteps = 2\ndevice = "cpu"\n[optimizer]\nlr = 0.1\n[data]\nn = 8\ndim = 3\n[model]\nhidden = [4]\n')
    status, manifest = run_scenario(sc, tmp_path)
    assert status == "completed"
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["precision"]["cuda_matmul_allow_tf32"] is False
    assert on_disk["precision"]["float32_matmul_precision"] == "highest"
    assert on_disk["device"] == "cpu" and "torch" in on_disk["versions"]


def test_lanczos_moves_one_pair_of_scalars_to_the_host_per_iteration(monkeypatch):
    """Working in float32, every float32 scalar that reaches Python comes from the device vectors
    (the tridiagonal and its eigenpairs are float64 on the host): one tolist of (α, β) per HVP, no
    .item() of the working dtype at all."""
    items, lists = [], []
    real_item, real_tolist = torch.Tensor.item, torch.Tensor.tolist

    def item(self):
        if self.dtype == torch.float32:
            items.append(1)
        return real_item(self)

    def tolist(self):
        if self.dtype == torch.float32:
            lists.append(1)
        return real_tolist(self)

    g = torch.Generator().manual_seed(0)
    A = torch.randn(60, 60, generator=g, dtype=torch.float32)
    H = (A + A.T) / 2
    monkeypatch.setattr(torch.Tensor, "item", item)
    monkeypatch.setattr(torch.Tensor, "tolist", tolist)
    r = top_eigenpairs(lambda v: H @ v, 60, k=2, tol=1e-4, max_iter=60, generator=g, dtype=torch.float32)
    monkeypatch.undo()
    assert items == [] and len(lists) == r.hvps
    assert r.eigenvalues[0] == pytest.approx(float(torch.linalg.eigvalsh(H.double())[-1]), rel=1e-4)
