"""The locks: one hash-checked requirements file per environment the project ships or tests in
(locks/*.txt), compiled by uv from pyproject.toml's ranges and the inputs in locks/*.in.

``python -m depslock`` (make lock) writes them; ``--check`` (make lock-check, and the release
tests) compares a fresh compile with the committed files; ``verify`` compares an installed
environment with its locks; ``audit`` (make audit) runs pip-audit over each lock; ``sbom`` writes a
CycloneDX document listing exactly a lock's packages. docs/dependencies.md is the user's guide.
"""
