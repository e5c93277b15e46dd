"""The core never imports Prefect: import every module in a fresh interpreter and look."""

import pkgutil
import subprocess
import sys

import alchemist_core


def test_core_does_not_import_prefect():
    modules = [m.name for m in pkgutil.walk_packages(alchemist_core.__path__, "alchemist_core.")]
    modules = [m for m in modules if m != "alchemist_core.programs.sandbox_worker"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
