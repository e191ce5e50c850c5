"""Each Hub failure: one line naming the repository, a hint with the next step, exit code 2, no token shown."""

from __future__ import annotations

import pytest

from tests.hub.conftest import one_line_error
from tests.hub_fixtures import ALICE_TOKEN, BOB_TOKEN


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


def test_translate_hook_for_raw_library_exceptions(fake_hub, monkeypatch):
    """Library exceptions that escape untranslated still become one line (hub.errors.translate)."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RevisionNotFoundError

    from worldflux_cli.cli.errors import _translate
    from worldflux_cli.hub.errors import HubError, redact, translate

    fake_hub.put_files("alice/raw", {"config.json": b"{}"})
    with pytest.raises(RevisionNotFoundError) as info:
        HfApi().model_info("alice/raw", revision="nope")
    err = translate(info.value)
    assert err is not None and err.code == 2 and "revision not found" in err.message
    assert translate(ValueError("a bug")) is None
    down = _translate(httpx2.ConnectError("[Errno 111] Connection refused"))  # through the CLI's hook
    assert down is not None and down.code == 2 and "cannot reach the Hub" in down.message
    refused = _translate(HubError("x", "y"))
    assert (refused.message, refused.hint, refused.code) == ("x", "y", 2)
    monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
    assert ALICE_TOKEN not in redact(f"Authorization: Bearer {ALICE_TOKEN}")
    assert "hf_***" in redact("token hf_abcdefghijklmnop leaked")


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
