"""The command line's settings (cli.py): every KServe-style flag, each with its environment
variable in --help, the variables read and the flags winning, and a warning for an API key on the
command line. tests/serving/process/test_cli.py runs the command for real."""

from __future__ import annotations

from reranker.cli import build_parser, settings_from
from reranker.config import Settings


def test_should_accept_every_kserve_style_flag_and_last_one_wins():
    settings = settings_from(
        [
            "--model_name={{.Name}}",
            "--model_name=reranker",
            "--task=score",
            "--http_port",
            "9000",
            "--enforce_eager",
            "--dtype=bfloat16",
        ],
        environ={},
    )
    assert settings.model_name == "reranker" and settings.http_port == 9000
    assert settings.enforce_eager is True and settings.dtype == "bfloat16"


def test_should_read_environment_variables_and_let_flags_win():
    env = {"RERANKER_MODEL_NAME": "from-env", "RERANKER_MAX_DOCUMENTS": "7", "RERANKER_RAW_SCORES": "true"}
    settings = settings_from([], environ=env)
    assert (settings.model_name, settings.max_documents, settings.raw_scores) == ("from-env", 7, True)
    assert settings_from(["--model_name", "flag"], environ=env).model_name == "flag"


def test_should_document_every_setting_with_its_variable_in_help():
    help_text = build_parser().format_help()
    for name in Settings.model_fields:
        assert f"--{name}" in help_text
        assert f"RERANKER_{name.upper()}" in help_text


def test_should_warn_when_the_key_is_on_the_command_line(capsys):
    settings_from(["--api_key", "visible"])
    assert "visible in the process list" in capsys.readouterr().err
