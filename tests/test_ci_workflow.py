"""The CI workflow is valid YAML, pins its actions, runs only repo commands the README documents, and lets
nothing skip in the tests job or .ci/run (PARBENCH_NO_SKIP=1)."""

from __future__ import annotations

import os
import re
import tomllib
from typing import Any

import pytest
import yaml

from conftest import NO_SKIP_ENV, ROOT, skip_unless_no_skip

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
README = ROOT / "README.md"
# A command invokes the repo when it runs one of its scripts or the parbench CLI from .venv.
REPO_COMMAND = re.compile(r"^(\./scripts/|\.venv/bin/(parbench|python -m pytest)\b|parbench\b)")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
# Its release tag, for the reader, in the comment after the SHA.
TAGGED = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40}\s+# v\d+\.\d+\.\d+$")
PYTHONS = ["3.11", "3.12", "3.13"]


def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def steps() -> list[dict[str, Any]]:
    return [step for job in workflow()["jobs"].values() for step in job["steps"]]


def shell_lines(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def without_redirection(line: str) -> str:
    """The command itself: `cmd >> "$GITHUB_STEP_SUMMARY"` -> `cmd`."""
    return re.split(r"\s+(?:>>?|\|)\s+", line, maxsplit=1)[0].strip()


def repo_commands(text: str) -> list[str]:
    return [cmd for cmd in map(without_redirection, shell_lines(text)) if REPO_COMMAND.match(cmd)]


def workflow_commands() -> list[str]:
    return [cmd for step in steps() if "run" in step for cmd in repo_commands(step["run"])]


def test_workflow_has_its_jobs_and_tests_every_supported_python() -> None:
    """ci.yml parses as YAML and defines tests (on 3.11, 3.12 and 3.13: every Python the classifiers name),
    package, sweep and bench jobs."""
    jobs = workflow()["jobs"]
    assert {"tests", "package", "sweep", "bench"} <= set(jobs)
    assert jobs["tests"]["strategy"]["matrix"]["python-version"] == PYTHONS
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    assert [c.rsplit(" ", 1)[-1] for c in classifiers if re.fullmatch(r".* :: 3\.\d+", c)] == PYTHONS


def test_every_action_is_pinned_to_a_commit_sha_with_its_tag() -> None:
    """Each `uses:` names a commit SHA (a tag can be moved to other code; a SHA cannot), its release tag in a
    comment after it."""
    used = [step["uses"] for step in steps() if "uses" in step]
    assert used
    assert [u for u in used if not PINNED.match(u)] == []
    lines = [line for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert len(lines) == len(used)
    assert [line for line in lines if not TAGGED.match(line)] == []


def test_every_setup_python_caches_pip_downloads() -> None:
    """Every setup-python step caches pip's downloads, keyed on pyproject.toml (where the dependencies are)."""
    setups = [step for step in steps() if str(step.get("uses", "")).startswith("actions/setup-python@")]
    assert len(setups) == len(workflow()["jobs"])
    assert all(step["with"]["cache"] == "pip" and step["with"]["cache-dependency-path"] == "pyproject.toml"
               for step in setups)


def test_the_package_job_builds_checks_and_installs_the_distributions() -> None:
    """The package job runs scripts/package-check: sdist, wheel built from it, twine check --strict, the wheel
    installed in a fresh venv and run there."""
    job = workflow()["jobs"]["package"]
    assert [cmd for step in job["steps"] if "run" in step for cmd in repo_commands(step["run"])] == [
        "./scripts/package-check"]
    script = (ROOT / "scripts" / "package-check").read_text()
    for needed in ("-m build", "twine check --strict", "-m venv", "pip install", "parbench\" --version"):
        assert needed in script


def test_tox_has_an_env_per_supported_python_and_documents_every_env() -> None:
    """tox.ini's envlist runs the suite on py311, py312 and py313 (and lint); the comment above it names every
    environment, bench and bench-baseline included."""
    text = (ROOT / "tox.ini").read_text()
    envlist = re.search(r"^envlist = (.+)$", text, re.MULTILINE)
    assert envlist is not None
    assert [e.strip() for e in envlist.group(1).split(",")] == ["py311", "py312", "py313", "lint"]
    header = text[: text.index("[tox]")]
    sections = re.findall(r"^\[testenv:([\w-]+)\]$", text, re.MULTILINE)
    assert set(sections) == {"tests", "lint", "bench", "bench-baseline"}
    assert [name for name in [*sections, "py311", "py312", "py313"] if name not in header] == []


def test_every_repo_command_in_the_workflow_is_documented_in_the_readme() -> None:
    """Each workflow command that runs a repo script or parbench appears verbatim in README.md."""
    readme = README.read_text()
    commands = workflow_commands()
    assert set(commands) == {"./scripts/test",  # tests job
                             ".venv/bin/python -m pytest bench --benchmark-disable -q",  # tests job: bench smoke
                             "./scripts/sweep --preset quick --run-id ci",  # sweep job
                             ".venv/bin/parbench report results/ci --format md",  # sweep job: summary
                             "./scripts/package-check",  # package job
                             "./scripts/bench-gate --save-if-missing"}  # bench job
    assert [cmd for cmd in commands if cmd not in readme] == []


def test_scripts_the_workflow_and_ci_run_call_exist_and_are_executable() -> None:
    """Every ./scripts/X that ci.yml or .ci/run calls is a file in the repo with its executable bit set."""
    commands = workflow_commands() + repo_commands((ROOT / ".ci" / "run").read_text())
    scripts = {ROOT / cmd.split()[0] for cmd in commands if cmd.startswith("./scripts/")}
    assert scripts
    assert [s.name for s in scripts if not (s.is_file() and os.access(s, os.X_OK))] == []


def test_parbench_commands_use_the_declared_console_script() -> None:
    """`.venv/bin/parbench` in the workflow is the console script pyproject.toml declares."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    used = {cmd.split()[0].rsplit("/", 1)[-1] for cmd in workflow_commands() if "parbench " in cmd}
    assert used == {"parbench"}
    assert used <= set(declared)


def test_ci_run_runs_the_readme_test_command_and_the_bench_smoke_run() -> None:
    """.ci/run calls ./scripts/test and the bench smoke run, both as the README documents them."""
    commands = repo_commands((ROOT / ".ci" / "run").read_text())
    readme = README.read_text()
    assert "./scripts/test" in commands
    assert ".venv/bin/python -m pytest bench --benchmark-disable -q" in commands
    assert [cmd for cmd in commands if cmd not in readme] == []


def test_sweep_job_publishes_its_summary_and_uploads_the_run() -> None:
    """The sweep job writes the Markdown report to the job summary and uploads results/ci/ (report.html)."""
    job = workflow()["jobs"]["sweep"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    uploads = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@")]
    assert "--run-id ci" in runs
    assert '--format md >> "$GITHUB_STEP_SUMMARY"' in runs
    assert [step["with"]["path"] for step in uploads] == ["results/ci/"]


def test_the_tests_job_lets_nothing_skip() -> None:
    """The tests job (the suite and the bench smoke run) has PARBENCH_NO_SKIP=1 in its env, and no step unsets or
    overrides it: a missing browser or an unavailable strategy fails the job instead of skipping green."""
    job = workflow()["jobs"]["tests"]
    assert job["env"][NO_SKIP_ENV] == "1"
    runs = [step for step in job["steps"] if "run" in step]
    assert {cmd for step in runs for cmd in repo_commands(step["run"])} == {
        "./scripts/test", ".venv/bin/python -m pytest bench --benchmark-disable -q"}
    assert [step for step in job["steps"] if NO_SKIP_ENV in step.get("env", {}) or NO_SKIP_ENV in step.get("run", "")
            ] == []


def test_ci_run_exports_no_skip_before_the_tests_and_the_bench_smoke_run() -> None:
    """.ci/run exports PARBENCH_NO_SKIP=1 before it runs ./scripts/test and the bench smoke run."""
    lines = shell_lines((ROOT / ".ci" / "run").read_text())
    export = lines.index(f"export {NO_SKIP_ENV}=1")
    assert export < lines.index("./scripts/test")
    assert export < lines.index(".venv/bin/python -m pytest bench --benchmark-disable -q")
    assert [line for line in lines if NO_SKIP_ENV in line] == [f"export {NO_SKIP_ENV}=1"]


@pytest.mark.parametrize(("value", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception),
                                                ("0", pytest.skip.Exception)])
def test_no_skip_turns_a_skip_into_a_failure(monkeypatch: pytest.MonkeyPatch, value: str,
                                             outcome: type[BaseException]) -> None:
    """skip_unless_no_skip (the browser test's) fails with its reason under PARBENCH_NO_SKIP=1, else skips."""
    monkeypatch.setenv(NO_SKIP_ENV, value)
    with pytest.raises(outcome, match="no chromium here"):
        skip_unless_no_skip("no chromium here")


def test_the_scripts_ci_calls_never_end_green_on_their_own() -> None:
    """No ./scripts/X that ci.yml or .ci/run calls has an `exit 0` of its own: a broken CLI must fail the job,
    not print a note and pass (scripts/sweep once did, while `parbench sweep` was being written)."""
    commands = workflow_commands() + repo_commands((ROOT / ".ci" / "run").read_text())
    scripts = {ROOT / cmd.split()[0] for cmd in commands if cmd.startswith("./scripts/")}
    assert {s.name for s in scripts} == {"test", "sweep", "bench-gate", "package-check"}
    assert [s.name for s in scripts if re.search(r"\bexit 0\b", s.read_text())] == []


def test_the_report_screenshots_are_kept_and_uploaded() -> None:
    """The tests job names a screenshots folder for the report's browser test (PARBENCH_SCREENSHOTS) and uploads
    that folder (screenshots and the reports they show) even when a test failed; .ci/run keeps it in results/."""
    job = workflow()["jobs"]["tests"]
    folder = job["env"]["PARBENCH_SCREENSHOTS"]
    assert folder == "${{ github.workspace }}/results/screenshots"
    uploads = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@")]
    assert [(step["with"]["path"], step["if"], step["with"]["if-no-files-found"]) for step in uploads] == [
        ("results/screenshots/", "always()", "error")]
    assert "matrix.python-version" in uploads[0]["with"]["name"]  # one artifact per Python: names must differ
    lines = shell_lines((ROOT / ".ci" / "run").read_text())
    assert lines.index('export PARBENCH_SCREENSHOTS="$PWD/results/screenshots"') < lines.index("./scripts/test")
