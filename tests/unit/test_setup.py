"""The first run: `make plan` needs only Python >= 3.11 (no root, no apt), and says what
is missing in plain words when it is not there."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry_run(target: str) -> str:
    """The commands `make TARGET` would run from scratch (-B: as if nothing were installed)."""
    out = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout


@needs_make
def test_make_plan_installs_no_system_tools() -> None:
    commands = _dry_run("plan")
    assert "scripts/setup-venv.sh runtime" in commands
    assert "fleetform plan --stack dev" in commands
    for root_only in ("install-system-tools", "apt-get", "sudo", "requirements-dev"):
        assert root_only not in commands, commands


@needs_make
def test_make_test_installs_the_tools_the_tests_drive() -> None:
    commands = _dry_run("test")
    assert "scripts/setup-venv.sh dev" in commands
    assert "install-system-tools.sh" in commands
    assert "pytest" in commands


def test_ci_runs_make_test() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE), ci


def _fake_bin(tmp_path: Path, version: tuple[int, int]) -> Path:
    """A PATH holding only a python3 of `version` (and what the script needs before it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "printf"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    major, minor = version
    python = bin_dir / "python3"
    python.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) echo "Python {major}.{minor}.12"; exit 0;; esac\n'
        f"exit {1 if (major, minor) < (3, 11) else 0}\n"
    )
    python.chmod(0o755)
    return bin_dir


def _run_setup(tmp_path: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup-venv.sh", repo / "scripts" / "setup-venv.sh")
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, str(repo / "scripts" / "setup-venv.sh"), "runtime"], cwd=repo,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=60)


def test_setup_refuses_an_old_python_and_says_what_to_do(tmp_path: Path) -> None:
    out = _run_setup(tmp_path, _fake_bin(tmp_path, (3, 10)))
    assert out.returncode == 1
    assert "fleetform needs Python >= 3.11 (found: Python 3.10.12)" in out.stderr
    assert "make plan PYTHON=" in out.stderr
    assert not (tmp_path / "repo" / ".venv").exists()


def test_setup_takes_the_interpreter_it_is_given(tmp_path: Path) -> None:
    """PYTHON= is tried first; an old one is skipped for the next candidate."""
    bin_dir = _fake_bin(tmp_path, (3, 10))
    newer = tmp_path / "py312"
    newer.mkdir()
    # new enough, but without the venv module (Debian's python3 without python3-venv)
    (newer / "python3.12").write_text('#!/bin/sh\ncase "$2" in *venv*) exit 1;; esac\nexit 0\n')
    (newer / "python3.12").chmod(0o755)
    out = _run_setup(tmp_path, bin_dir, PYTHON=str(newer / "python3.12"))
    assert out.returncode == 1
    assert "has no venv/ensurepip module" in out.stderr, out.stderr
    assert str(newer / "python3.12") in out.stderr


def test_system_tools_without_root_say_what_is_missing(tmp_path: Path) -> None:
    """Without root or sudo, the test tools are named with the command to install them,
    and `make plan` is said not to need them."""
    bin_dir = tmp_path / "bin"  # only a fake `id` (a normal user): no tool, no sudo, no apt
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    bash = shutil.which("bash")
    assert bash is not None
    out = subprocess.run([bash, str(ROOT / "scripts" / "install-system-tools.sh")],
                         env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "the tests need Debian packages that are missing: etcd-server etcd-client" in out.stderr
    assert "apt-get install --no-install-recommends" in out.stderr
    assert "'make plan' works without" in out.stderr


def test_readme_states_prerequisites_disk_and_time() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make plan" in first_block and "make test" in first_block
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^plan:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "Python ≥ 3.11" in readme
    assert re.search(r"\d+(\.\d+)? minutes", readme)
    assert re.search(r"\d+ MB", readme) and "~1 GB" in readme
    assert "no root" in readme
