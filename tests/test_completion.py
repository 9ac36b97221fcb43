"""Shell completion: `parbench completion bash|zsh` prints a script generated from the parser (shtab)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import ROOT, run_cli
from parbench.cli import COMMANDS


def _bash_complete(script: Path, words: list[str]) -> list[str]:
    """What bash offers for the last of `words`, with the generated script loaded (as a user's shell would)."""
    line = " ".join(words)
    program = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; "
               f"COMP_POINT={len(line)}; _shtab_parbench parbench {words[-1]} {words[-2]}; "
               'printf "%s\\n" "${COMPREPLY[@]}"')
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_bash_completion_completes_subcommands_and_their_flags(tmp_path: Path) -> None:
    """The bash script completes a subcommand from its prefix and a subcommand's flag from its prefix."""
    result = run_cli(["completion", "bash"])
    assert result.rc == 0, result.err
    script = tmp_path / "parbench.bash"
    script.write_text(result.out)
    assert _bash_complete(script, ["parbench", "sw"]) == ["sweep"]
    assert _bash_complete(script, ["parbench", "sweep", "--iso"]) == ["--isolation"]
    assert "--debug" in _bash_complete(script, ["parbench", "run", "--de"])


def test_zsh_completion_names_every_subcommand() -> None:
    """The zsh script is a #compdef for parbench and knows every subcommand and a subcommand's flags."""
    result = run_cli(["completion", "zsh"])
    assert result.rc == 0, result.err
    assert result.out.startswith("#compdef parbench")
    names = ["list" if module == "listing" else module for module in COMMANDS]
    assert [name for name in names if f"{name}:" not in result.out] == []
    assert "--isolation" in result.out and "--dispy-nodes" in result.out


def test_unknown_shell_is_refused_and_completion_is_documented() -> None:
    """`completion fish` is bad input (one line, exit 2); the README says how to install both scripts."""
    result = run_cli(["completion", "fish"])
    assert result.rc == 2 and result.err.count("\n") == 1
    readme = (ROOT / "README.md").read_text()
    assert "parbench completion bash" in readme and "parbench completion zsh" in readme
