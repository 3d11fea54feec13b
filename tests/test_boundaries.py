"""The import contracts of pyproject.toml ([tool.importlinter], run by `make test`) name
every service, and they fail when someone adds an import across a boundary: the services
import each other, the gateway imports a service, services.common imports a service or the
gateway. Checked on a copy of the tree with one such import added to each side."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from services.common.settings import REPO_ROOT

CONFIG = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = {c["id"]: c for c in CONFIG["tool"]["importlinter"]["contracts"]}
SERVICES = sorted(f"services.{path.parent.name}"
                  for path in (REPO_ROOT / "services").glob("*/service.py"))


def test_the_contracts_name_every_service():
    assert len(SERVICES) == 5
    assert sorted(CONTRACTS["services-independent"]["modules"]) == SERVICES
    assert CONTRACTS["gateway-no-service"]["source_modules"] == ["gateway"]
    assert sorted(CONTRACTS["gateway-no-service"]["forbidden_modules"]) == SERVICES
    assert CONTRACTS["common-no-service"]["source_modules"] == ["services.common"]
    assert sorted(CONTRACTS["common-no-service"]["forbidden_modules"]) == \
        sorted(SERVICES + ["gateway"])


LEAKS = {  # a module added to the copy: the import it makes, the contract it breaks
    "gateway/leak.py": ("from services.intake import calls", "gateway-no-service"),
    "services/routing/leak.py": ("import services.sla.domain", "services-independent"),
    "services/common/leak.py": ("import gateway.http", "common-no-service"),
}


def _lint(root: Path, contract: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))  # the copy, not the checkout, is analysed
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config",
         str(root / "pyproject.toml"), "--contract", contract, "--no-cache", "--no-logo"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_an_import_across_a_boundary_breaks_its_contract(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "migrations", "tests")
    for package in ("services", "gateway"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for path, (statement, _contract) in LEAKS.items():
        (tmp_path / path).write_text(f"{statement}\n", encoding="utf-8")
    for path, (_statement, contract) in LEAKS.items():
        result = _lint(tmp_path, contract)
        leak = path.removesuffix(".py").replace("/", ".")
        assert result.returncode != 0, result.stdout
        assert "BROKEN" in result.stdout and leak in result.stdout, result.stdout
        (tmp_path / path).unlink()
        kept = _lint(tmp_path, contract)   # the copy without tests: only the leak broke it
        assert kept.returncode == 0 and "KEPT" in kept.stdout, kept.stdout
