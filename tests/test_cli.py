import pytest

from ttc_plugins import cli


@pytest.mark.parametrize("args", [["demo", "--questions", "0"], ["demo", "--samples", "-1"]])
def test_demo_rejects_nonsense_sizes(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_a_missing_local_model_is_reported_without_a_traceback(monkeypatch, capsys):
    from ttc_plugins import local

    def missing(*args, **kwargs):
        raise local.LocalModelError("the embedded model's weights are not installed; install them with: make install")

    monkeypatch.setattr(cli, "local_server", missing)
    assert cli.main(["serve"]) == 1
    assert (
        capsys.readouterr().err
        == "ttc: the embedded model's weights are not installed; install them with: make install\n"
    )
