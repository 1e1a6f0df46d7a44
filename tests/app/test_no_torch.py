"""The app process never imports torch: training happens in the engine process."""

import subprocess
import sys


def test_importing_the_app_does_not_import_torch():
    code = (
        "import sys, eos_tui.app, eos_tui.engine.launch; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'textual' in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_launch_imports_neither_torch_nor_textual():
    code = "import sys, eos_tui.engine.launch; assert 'torch' not in sys.modules and 'textual' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
