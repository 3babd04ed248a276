"""The package as a user installs it.

- `pip install complaint-triage` with no extras, into a clean virtual environment (no system site packages):
  the library trains a model and decides a complaint from Python, and none of FastAPI, Starlette, uvicorn,
  SQLAlchemy, Alembic, MLflow, structlog, Jinja2 is installed. The shells' commands are listed all the same
  and name the extra they need. Skipped when pip cannot reach a package index.
- The wheel holds the three packages and their data files, and not bench/.
- The import contract (`lint-imports`): the library imports neither shell nor their frameworks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "triage", "training", "serving")
SHELL_PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "mlflow", "structlog", "jinja2")
OFFLINE = ("Could not find a version", "No matching distribution", "NewConnectionError", "Network is unreachable",
           "Temporary failure in name resolution", "ConnectTimeout", "ProxyError", "Failed to establish")

TRAIN_AND_DECIDE = f'''
import importlib.util, json, sys

present = [m for m in {SHELL_PACKAGES!r} if importlib.util.find_spec(m) is not None]
assert not present, f"installed without extras, yet importable: {{present}}"

from triage.models import TriageModel
from triage.policy import load_policy
from triage.schemas import ComplaintIn
from triage.service import TriageService

rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
model = TriageModel().fit([r["text"] for r in rows], [r["category"] for r in rows], [r["tier"] for r in rows])
model.save(sys.argv[2])
loaded = TriageModel.load(sys.argv[2])
policy = load_policy(None)
service = TriageService(loaded, policy, TriageService.new_similarity(loaded, policy))
decision = service.triage_one(ComplaintIn(text="我的信用卡昨晚在境外被盗刷了5万元，到现在还没人处理",
                                          complaint_id="P-1", customer_id="C1"))
loaded_shells = sorted(m for m in sys.modules if m.split(".")[0] in {SHELL_PACKAGES!r})
print(json.dumps({{"category": decision.category, "tier": decision.tier.label, "loaded": loaded_shells}}))
'''


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project built as a wheel from a copy of its sources (the checkout is left as it is)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                work / "dist", source, cwd=work)
    assert built.returncode == 0, built.stderr[-3000:]
    [found] = (work / "dist").glob("complaint_triage-*.whl")
    return found


def test_the_wheel_holds_the_three_packages_and_their_data_but_not_bench(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"triage", "training", "serving"}
    for data in ("triage/policy/default.toml", "triage/features/resources/finance_dict.txt",
                 "serving/store/alembic.ini", "serving/store/migrations/env.py",
                 "serving/store/migrations/versions/0001_initial_schema.py", "serving/templates/queue.html",
                 "serving/static/review.css", "training/pyfunc_entry.py"):
        assert data in names, data
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "training = training.cli:register" in text and "serving = serving.cli:register" in text


@pytest.mark.slow
def test_the_library_alone_trains_and_decides_without_the_shells_frameworks(wheel, tmp_path, small_corpus_path):
    venv = tmp_path / "venv"
    created = run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    python, triage = venv / "bin" / "python", venv / "bin" / "triage"
    installed = run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path, timeout=900)
    if installed.returncode != 0 and any(sign in installed.stderr + installed.stdout for sign in OFFLINE):
        pytest.skip(f"pip cannot reach a package index: {installed.stderr.strip().splitlines()[-1]}")
    assert installed.returncode == 0, installed.stderr[-3000:]

    decided = run(python, "-c", TRAIN_AND_DECIDE, small_corpus_path, tmp_path / "model", cwd=tmp_path)
    assert decided.returncode == 0, decided.stderr[-3000:]
    assert (tmp_path / "model" / "meta.json").exists()
    assert '"loaded": []' in decided.stdout, decided.stdout

    listed = run(triage, "--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert all(command in listed.stdout for command in ("predict", "train", "serve", "keys"))
    serve = run(triage, "serve", cwd=tmp_path)
    assert serve.returncode == 2 and "complaint-triage[serve]" in " ".join(serve.stderr.split()), serve.stderr
    promote = run(triage, "promote", "1", cwd=tmp_path)
    assert promote.returncode == 2 and "complaint-triage[train]" in " ".join(promote.stderr.split()), promote.stderr


def test_the_import_contract_holds():
    """`lint-imports` (also a step of `make test`): imports flow into the library, never out of it."""
    linter = Path(sys.executable).parent / "lint-imports"
    if not linter.exists():
        pytest.skip("import-linter is not installed (the dev extra installs it)")
    checked = run(linter, cwd=ROOT, timeout=300)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "broken" in checked.stdout and "0 broken" in checked.stdout
