"""Every suggested override is accepted: where a one-line error of tests/cli/test_errors.py's table
suggests an override (`e.g. key=value`, `give key=value`, `set key=value`, `use key=value`), the
same command with that override applied does not give the same error again.

The command is rerun in-process in a scratch folder whose entries link to the shared folder's
files, so a suggestion that succeeds (`overwrite=true`, a run that now trains) replaces a link,
never a shared file; runs that now succeed are kept short (`RUN_SHORT`)."""

from __future__ import annotations

import re

import pytest
from test_errors import ROWS

from helpers import run_main

# `e.g. key=value` / `e.g. "key='value'"` (a quoted spelling) / `give|set|use key=value`
SUGGESTION = re.compile(r"""(?:e\.g\.|give|set|use)\s+(?:"([\w.+~]+='[^']*')"|([\w.+~]+=(?:\[[^\]]*\]|[^\s,;:)"]+)))""")
# a value that stands for something the user must fill in is no override to run
PLACEHOLDER = re.compile(r"DIR|NAME|KEY|<|…|\.\.\.")
# how an error refuses a key's value (BadValue's words, and a checkpoint's "does nothing")
REFUSALS = "must|is unknown|is not a key|does nothing|can't be"
# a rerun that now succeeds stays short: one training step, no test, no media
RUN_SHORT = {
    "predrnn-train": ("trainer.max_steps=1", "trainer.limit_val_batches=1", "test=false", "callbacks.media=null")
}


def suggestions(message: str) -> list[str]:
    """The overrides `message` suggests, in order (placeholders and environment variables left out)."""
    found = [quoted or plain for quoted, plain in SUGGESTION.findall(message)]
    found = [f.rstrip(".") for f in found]
    return [f for f in found if not PLACEHOLDER.search(f) and not f.split("=", 1)[0].isupper()]


def applied(argv: tuple[str, ...], override: str) -> tuple[str, ...]:
    """`argv` with `override` in place of any override of the same key."""
    key = override.split("=", 1)[0].lstrip("+~")
    kept = [a for a in argv[1:] if a.split("=", 1)[0].lstrip("+~") != key]
    return (argv[0], *kept, override, *RUN_SHORT.get(argv[0], ()))


def _suggesting(rows):
    """The rows whose expected line names a suggestion (the line the command gives is parsed)."""
    return [(argv, message) for argv, message in rows if re.search(r"(e\.g\.|give|set|use)\s+\"?[\w.+~]+=", message)]


CASES = _suggesting(ROWS)


def test_the_suggestions_are_read():
    assert suggestions("optim.lr=inf must be finite: e.g. optim.lr=0.001") == ["optim.lr=0.001"]
    assert suggestions("quote it, e.g. \"input='a,b.npy'\"; for a list") == ["input='a,b.npy'"]
    assert suggestions("set model.kernel_size=[2,5,5]") == ["model.kernel_size=[2,5,5]"]
    assert suggestions("set PREDRNN_ROOT=DIR (or paths.log_dir=DIR)") == []
    assert len(CASES) >= 15


@pytest.fixture
def scratch(workdir, tmp_path):
    """A folder whose entries link to the shared folder's (its logs/ and trained/ excepted): what
    a suggestion writes (an output, a run folder) lands here."""
    for entry in workdir.iterdir():
        if entry.name not in ("logs", "trained"):
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


@pytest.mark.slow  # about 2 s a row on 2 busy cores: reruns that now succeed run (one step of training)
@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a[1:]) for a, _ in CASES])
def test_every_suggested_override_is_accepted(argv, message, scratch, monkeypatch, capsys):
    if argv[0] == "predrnn-eval":  # a rerun that succeeds scores the whole test set (minutes on a busy CPU)
        pytest.skip("predrnn-eval reruns score the whole test set")
    code, err = run_main(argv, scratch, monkeypatch, capsys)
    assert code == 2 and len(err) == 1, err
    found = suggestions(err[0])
    if not found:
        pytest.skip(f"the suggestion needs more than an override: {err[0][:160]}")
    for override in found:
        code, again = run_main(applied(argv, override), scratch, monkeypatch, capsys)
        lines = [line for line in again if ": error: " in line]
        assert err[0] not in lines, f"{override} gives the same error again: {err[0]}"
        key = re.escape(override.split("=", 1)[0].lstrip("+~"))
        refused = [line for line in lines if re.search(rf"{key}=[^:]*? ({REFUSALS})", line)]
        assert not refused, f"the suggested {override} is refused: {refused[0]}"
