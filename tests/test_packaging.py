"""What a user installing parbench gets: an sdist and a wheel that build, pass `twine check`, carry the project's
metadata (classifiers, URLs, authors, keywords, LICENSE, every extra), and an sdist that is self-consistent (it
leaves out the test suite, which needs the repository). The install into a fresh venv is scripts/package-check,
run by CI's package job."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # builds both distributions once per session (about 10 s)

SOURCES = ("src", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sdist and the wheel, built (without network: this venv's setuptools) from a copy of the sources, so
    that no build/ or egg-info lands in the repository."""
    tree = tmp_path_factory.mktemp("tree")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)],
                   check=True, capture_output=True, timeout=300)
    yield out


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_twine_check_passes_on_both(dist: Path) -> None:
    """`twine check --strict` accepts the sdist and the wheel (metadata and README render)."""
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_the_wheel_carries_the_project_metadata(dist: Path) -> None:
    """Classifiers (every supported Python), project URLs, authors, keywords, the LICENSE file and the extras,
    joblib on its own among them."""
    with zipfile.ZipFile(_one(dist, "*.whl")) as wheel:
        names = wheel.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(wheel.read(meta_name).decode())
    classifiers = meta.get_all("Classifier") or []
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in (11, 12, 13)} <= set(classifiers)
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert meta.get_all("Project-URL") and meta["Author"] and meta["Keywords"]
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"dispy", "dask", "joblib", "report", "completion", "all", "dev"} <= extras
    assert any("joblib" in r and 'extra == "joblib"' in r for r in meta.get_all("Requires-Dist") or [])


def test_the_sdist_is_self_consistent(dist: Path) -> None:
    """The sdist holds the package, README and LICENSE, and no tests: they need bench/, scripts/, .github/ and
    results/fixtures/, which it does not ship."""
    with tarfile.open(_one(dist, "*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", "src/parbench/cli.py", "src/parbench/py.typed"} <= names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "scripts/", ".github/", "results/"))]
