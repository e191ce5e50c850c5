"""Environment ids (``dmc:cartpole-balance``, ``gym:Pendulum-v1``) and the env section's rules (WF420, WF421).

Torch-free and import-free: whether ``dmc:walker-walk`` exists is known only to dm_control, so the
static check here is the form of the id and its suite; ``worldflux validate --env`` and ``worldflux new
--env`` build the environment itself (worldflux_cli.envs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from worldflux_cli.config.names import suggest
from worldflux_cli.config.problems import Problem, error

#: Suites and what their names look like.
SUITES = {
    "dmc": "the DeepMind Control Suite (dm_control): dmc:DOMAIN-TASK, e.g. dmc:cartpole-balance",
    "gym": "any registered gymnasium id: gym:ID, e.g. gym:Pendulum-v1",
}
#: The action repeat a null ``action_repeat`` means: DreamerV3 and TD-MPC2 both repeat 2 on DMC.
USUAL_ACTION_REPEAT = {"dmc": 2, "gym": 1}
#: Suites that render pixel observations.
PIXEL_SUITES = ("dmc",)

_NAME = {"dmc": re.compile(r"^[a-z][a-z0-9_]*-[a-z][a-z0-9_]*$"), "gym": re.compile(r"^[A-Za-z0-9_./:\-]+$")}
_EXAMPLE = "dmc:cartpole-balance or gym:Pendulum-v1"


def split_id(env_id: str) -> tuple[str | None, str, str]:
    """``"dmc:cartpole-balance"`` -> ``("dmc", "cartpole-balance", "")``.

    For a string that is not an env id: ``(None, message, hint)``, the hint naming the id it looks like
    when there is one.
    """
    suite, colon, name = env_id.partition(":")
    generic = f"write {_EXAMPLE} ({'; '.join(SUITES.values())})"
    if not colon:
        fix = f"dmc:{env_id}" if _NAME["dmc"].match(env_id) else ""
        return None, f"env id {env_id!r} has no suite", f"did you mean {fix!r}?" if fix else generic
    if suite not in SUITES:
        close = suggest(suite, list(SUITES))
        return None, f"unknown suite {suite!r} in env id {env_id!r}", \
            f"did you mean '{close}:{name}'?" if close else generic
    if not _NAME[suite].match(name):
        return None, f"env id {env_id!r} is not {SUITES[suite]}", generic
    return suite, name, ""


def dmc_parts(name: str) -> tuple[str, str]:
    """``"ball_in_cup-catch"`` -> ``("ball_in_cup", "catch")`` (domains and tasks use '_', never '-')."""
    domain, _, task = name.partition("-")
    return domain, task


def rule_env(v: dict[str, Any], cls: type) -> Iterator[Problem]:
    """The id is SUITE:NAME with a known suite (WF420); pixels only where the suite renders them (WF421)."""
    env_id = v.get("id")
    if not isinstance(env_id, str):
        return
    suite, message, hint = split_id(env_id)
    if suite is None:
        yield error("WF420", message, hint, ("id",))
        return
    if v.get("obs") == "pixels" and suite not in PIXEL_SUITES:
        yield error("WF421", f"{env_id} has no pixel observations in worldflux (only {', '.join(PIXEL_SUITES)} "
                             "envs render them)", "set obs to 'state'", ("obs",))
