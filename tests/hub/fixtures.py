"""pytest wiring for the loopback hub (`tests.hub.server.FakeHub`).

huggingface_hub reads its settings (HF_ENDPOINT, HF_HOME, HF_HUB_DISABLE_XET, ...) once, when
`huggingface_hub.constants` is first imported, so the endpoint cannot follow a new port per test. Hence:

* one `FakeHub` per test process, started by `configure_env()`, which also points the client at it through the
  environment. Called from `pytest_configure` below, it runs before test modules are collected, hence normally
  before anything imports huggingface_hub. If huggingface_hub was imported earlier anyway, `configure_env()`
  re-points the already loaded client as well (`_retarget_loaded_client`). Subprocesses inherit the environment.
* per test, the `fake_hub` fixture empties the hub (`FakeHub.reset()`) and gives the client a fresh HF_HOME and
  cache: the download functions read `constants.HF_HUB_CACHE` at call time, the token functions
  `constants.HF_TOKEN_PATH`, so patching those constants is enough in-process; the variables are set too, for
  subprocesses. It also fails the test if anything tried to connect to a non-loopback address.

Wiring, in tests/conftest.py:  ``pytest_plugins = ["tests.hub.fixtures"]`` (a plugin of the whole run: every test,
hub test or not, finds huggingface_hub pointed at the FakeHub).

PYTEST_DONT_REWRITE: test modules may import this module before pytest loads it as a plugin.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub.server import FakeHub

ALICE_TOKEN = "hf_alice_write_token"
BOB_TOKEN = "hf_bob_write_token"
HUB_TOKENS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}
HUB_ORGS = {"worldflux": {"alice"}}  # alice may write in the "worldflux" namespace, bob may not

_UNSET = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN",
    "HF_OIDC_RESOURCE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGINGFACE_CO_STAGING",
    "HUGGINGFACE_HUB_CACHE",
    "HF_XET_CACHE",
)

_hub: FakeHub | None = None


def configure_env() -> FakeHub:
    """Start the process-wide hub (once) and point huggingface_hub at it; returns the hub."""
    global _hub
    if _hub is None:
        hub = FakeHub(tokens=HUB_TOKENS, orgs=HUB_ORGS)
        home = Path(tempfile.mkdtemp(prefix="fake-hf-home-"))
        atexit.register(_shut_down, hub, home)
        for name in _UNSET:
            os.environ.pop(name, None)
        os.environ.update(
            HF_ENDPOINT=hub.endpoint,
            HF_HOME=str(home),
            HF_HUB_CACHE=str(home / "hub"),
            HF_HUB_DISABLE_XET="1",  # uploads would go to a Xet CAS that FakeHub does not have
            HF_HUB_DISABLE_TELEMETRY="1",  # no agent-registry fetch, no telemetry
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            NO_PROXY=",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"])),
        )
        if "huggingface_hub.constants" in sys.modules:
            _retarget_loaded_client(hub.endpoint, home)
        _hub = hub
    return _hub


def _retarget_loaded_client(endpoint: str, home: Path) -> None:
    """Do what importing huggingface_hub after `configure_env()` would have done, for a client loaded before.

    Besides the constants, a few values were derived from them at import: the trusted redirect origins, the
    module-level `HfApi` behind `huggingface_hub.create_repo` & co, the progress-bar switch.
    """
    from urllib.parse import urlsplit

    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars

    constants.ENDPOINT = endpoint
    constants.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    constants.HF_URL_HOSTS = constants.HF_URL_HOSTS | {"127.0.0.1"}
    constants.HF_HOME = str(home)
    constants.HF_HUB_CACHE = str(home / "hub")
    constants.HF_TOKEN_PATH = str(home / "token")
    constants.HF_STORED_TOKENS_PATH = str(home / "stored_tokens")
    constants.HF_HUB_OFFLINE = False
    constants.HF_HUB_DISABLE_XET = True
    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_DISABLE_IMPLICIT_TOKEN = False
    disable_progress_bars()
    if (http := sys.modules.get("huggingface_hub.utils._http")) is not None:
        parts = urlsplit(endpoint)
        http._HUB_ORIGINS = http._HUB_ORIGINS | {(parts.scheme, parts.hostname, parts.port)}
    if (cache_manager := sys.modules.get("huggingface_hub.utils._cache_manager")) is not None:
        cache_manager.HF_HUB_CACHE = constants.HF_HUB_CACHE
    if (hf_api := sys.modules.get("huggingface_hub.hf_api")) is not None:
        hf_api.api.endpoint = endpoint


def _shut_down(hub: FakeHub, home: Path) -> None:
    hub.stop()
    shutil.rmtree(home, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    configure_env()


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """The process-wide `FakeHub`, emptied, with a fresh client home/cache; only loopback connections allowed.

    Tokens: `ALICE_TOKEN` (user "alice", member of org "worldflux"), `BOB_TOKEN` (user "bob"). Take the hub
    offline with `fake_hub.set_offline(True)`, never `stop()` it (it is shared by the whole session).
    """
    hub = configure_env()
    hub.reset()

    from huggingface_hub import constants
    from huggingface_hub.utils import _cache_manager

    assert hub.endpoint == constants.ENDPOINT, f"huggingface_hub points at {constants.ENDPOINT}, not the FakeHub"
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(home / "hub"))

    foreign: list[Any] = []
    real_connect = socket.socket.connect

    def loopback_only_connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            foreign.append(address)
            raise ConnectionRefusedError(f"test tried to reach {address!r}: only loopback is allowed")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only_connect)
    yield hub
    assert not foreign, f"connections attempted to non-loopback addresses: {foreign}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"
