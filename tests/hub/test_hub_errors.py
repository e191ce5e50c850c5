"""Each Hub failure: one line naming the repository, a hint with the next step, exit code 2, no token shown."""

from __future__ import annotations

import pytest

from tests.hub.conftest import one_line_error
from tests.hub.fixtures import ALICE_TOKEN, BOB_TOKEN


@pytest.fixture
def published(fake_hub, saved):
    fake_hub.put_files("alice/public", {p.name: p.read_bytes() for p in saved["tdmpc2"].iterdir()})
    fake_hub.put_files("alice/secret", {p.name: p.read_bytes() for p in saved["tdmpc2"].iterdir()}, private=True)
    return fake_hub


CASES = {
    "repo not found": (None, "alice/nope", "repository alice/nope not found, or it is private and no Hub token",
                       "check the name"),
    "repo not found, logged in": (ALICE_TOKEN, "alice/nope", "repository alice/nope not found, or the token from "
                                  "the HF_TOKEN environment variable has no access to it", "check the name"),
    "revision not found": (None, "alice/public@nope", "alice/public has no revision 'nope'",
                           "hf repos tag list alice/public"),
    "private, no token": (None, "alice/secret", "repository alice/secret not found, or it is private and no Hub "
                          "token is set", "hf auth login"),
    "private, other user": (BOB_TOKEN, "alice/secret", "has no access to it", "for a private repo"),
    "bad token": ("hf_expired_token_0000", "alice/public", "the Hub rejected the token from the HF_TOKEN "
                  "environment variable (invalid or expired)", "settings/tokens"),
    "bad reference": (None, "not-a-repo", "'not-a-repo' is not a Hub repository id", "ORG/NAME"),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["pull", "validate"])
def test_one_clear_line_and_exit_2(cli, published, monkeypatch, tmp_path, case, command):
    token, ref, expected, hint = CASES[case]
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    if command == "pull":
        r = cli("pull", ref, "-o", str(tmp_path / "out"))
        assert r.exit_code == 2, r.output
        line = one_line_error(r.stderr)
        assert expected in line, line
        assert hint in r.stderr.split("  hint: ", 1)[1]
        assert not (tmp_path / "out").exists()
    else:
        r = cli("validate", f"hf://{ref}")
        assert r.exit_code == 2, r.output
        assert expected in r.stdout and hint in r.stdout and "WF008" in r.stdout
    if token:
        assert token not in r.output


def test_network_down_with_nothing_cached(cli, fake_hub, tmp_path):
    fake_hub.set_offline(True)
    r = cli("pull", "alice/anything", "-o", str(tmp_path / "out"))
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert f"cannot reach the Hub at {fake_hub.endpoint}" in line and "not in the local cache" in line
    assert "network" in r.stderr.split("  hint: ", 1)[1]
    r = cli("validate", "hf://alice/anything")
    assert r.exit_code == 2 and "cannot reach the Hub" in r.stdout


def test_push_network_down(cli, fake_hub, alice, saved):
    fake_hub.set_offline(True)
    r = cli("push", str(saved["tdmpc2"]), "--repo", "alice/x")
    assert r.exit_code == 2 and f"cannot reach the Hub at {fake_hub.endpoint}" in one_line_error(r.stderr)


def test_push_offline_mode(cli, fake_hub, alice, saved, offline):
    offline()
    r = cli("push", str(saved["tdmpc2"]), "--repo", "alice/x")
    assert r.exit_code == 2 and "HF_HUB_OFFLINE=1" in one_line_error(r.stderr)
    assert fake_hub.request_log == []


def test_raw_library_exceptions_become_hub_errors(fake_hub, monkeypatch):
    """Library exceptions never leave the hub package raw: hub_errors turns them into one-line HubErrors
    (a WorldfluxError, exit code 2), which the CLI prints as they are; other exceptions pass through."""
    import httpx2
    from huggingface_hub import HfApi

    from worldflux_cli.cli.errors import as_user_error
    from worldflux_cli.errors import WorldfluxError
    from worldflux_cli.hub.errors import HubError, hub_errors, redact

    fake_hub.put_files("alice/raw", {"config.json": b"{}"})
    with pytest.raises(HubError) as info, hub_errors("alice/raw", "nope"):
        HfApi().model_info("alice/raw", revision="nope")
    assert info.value.exit_code == 2 and "has no revision 'nope'" in info.value.message
    assert isinstance(info.value, WorldfluxError) and as_user_error(info.value) is info.value
    with pytest.raises(HubError) as info, hub_errors():
        raise httpx2.ConnectError("[Errno 111] Connection refused")
    assert info.value.exit_code == 2 and "cannot reach the Hub" in info.value.message
    with pytest.raises(ValueError, match="a bug"), hub_errors():
        raise ValueError("a bug")
    assert as_user_error(ValueError("a bug")) is None
    monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
    assert ALICE_TOKEN not in redact(f"Authorization: Bearer {ALICE_TOKEN}")
    assert "hf_***" in redact("token hf_abcdefghijklmnop leaked")
    assert ALICE_TOKEN not in HubError(f"bad {ALICE_TOKEN}", f"hint {ALICE_TOKEN}").hint


def test_progress_bars_only_on_a_terminal(monkeypatch):
    import sys

    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    from worldflux_cli.hub.progress import progress_bars

    # As without the test environment's HF_HUB_DISABLE_PROGRESS_BARS=1:
    monkeypatch.setattr(sys.modules["huggingface_hub.utils.tqdm"], "HF_HUB_DISABLE_PROGRESS_BARS", None)
    enable_progress_bars()
    try:
        with progress_bars():  # pytest's stderr is not a terminal
            assert are_progress_bars_disabled()
        assert not are_progress_bars_disabled()
        with progress_bars(True):
            assert not are_progress_bars_disabled()
    finally:
        monkeypatch.undo()
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
