"""The package's layers: one installable `locus` whose imports run one way (core <- Ray layers
<- commands), a core that imports no Ray, FastAPI or matplotlib, and a package list in
pyproject.toml that matches the folders."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"locus": ROOT / "locus", "locus.jobs": ROOT / "jobs", "locus.serve": ROOT / "serve"}
LAYERS = {"locus.jobs": 1, "locus.serve": 1, "locus.cli": 2}  # the rest of locus is the core, layer 0


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            out[".".join((package, *parts)).removesuffix(".__init__")] = path
    return out


def _layer(module: str) -> int:
    return max((n for prefix, n in LAYERS.items() if module == prefix or module.startswith(prefix + ".")), default=0)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_imports_run_one_way_and_the_ray_layers_do_not_import_each_other():
    upward = []
    for module, path in _modules().items():
        for target in _imports(path):
            if not target.startswith("locus"):
                continue
            if _layer(target) > _layer(module):
                upward.append(f"{module} imports {target}")
            if module.startswith("locus.serve") and target.startswith("locus.jobs.") \
                    and target != "locus.jobs.ray_session":
                upward.append(f"{module} imports {target}")
            if module.startswith("locus.jobs") and target.startswith("locus.serve"):
                upward.append(f"{module} imports {target}")
    assert not upward, upward


def test_the_core_imports_no_ray_fastapi_or_matplotlib():
    core = sorted(m for m in _modules() if _layer(m) == 0 and not m.endswith("__main__"))
    code = ("import importlib, sys\n"
            f"for m in {core!r}: importlib.import_module(m)\n"
            "print(sorted(n for n in ('ray', 'fastapi', 'matplotlib', 'starlette') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_cli_starts_without_torch_or_ray():
    code = "import sys, locus.cli; print(sorted(n for n in ('torch', 'ray') if n in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_pyproject_lists_every_package_of_the_folders():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"locus": "locus", "locus.jobs": "jobs", "locus.serve": "serve"}
    packages = {m for m, p in _modules().items() if p.name == "__init__.py"}
    assert set(config["packages"]) == packages
