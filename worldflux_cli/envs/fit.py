"""Whether a model config fits an environment: its obs_shape, action_dim and action_type (WF430-WF432)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worldflux_cli.config.env import EnvConfig
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.problems import Problem, error
from worldflux_cli.envs.errors import EnvError, UnknownEnv, UnsupportedEnv
from worldflux_cli.envs.spec import EnvSpec
from worldflux_cli.errors import EXIT_FAILED, WorldfluxError

#: The ``--env`` value that checks each run file against its own env section.
RUN = "run"


def fit_problems(config: Any, spec: EnvSpec) -> list[Problem]:
    """The problems of a model config (a WorldModelConfig) used in the environment ``spec`` describes.

    Each names the environment's value in its hint; paths are the model config's fields.
    """
    out: list[Problem] = []
    shape = list(config.obs_shape)
    if shape != list(spec.obs_shape):
        what = "images" if len(spec.obs_shape) == 3 else "vectors"
        out.append(error("WF430", f"obs_shape {shape} does not fit {spec.env_id}, whose observations are {what} "
                                  f"of shape {list(spec.obs_shape)}", f"set obs_shape to {list(spec.obs_shape)}",
                         ("obs_shape",)))
    if config.action_dim != spec.action_dim:
        noun = "actions" if spec.action_type == "discrete" else "action dimensions"
        out.append(error("WF431", f"action_dim {config.action_dim} does not fit {spec.env_id}, which has "
                                  f"{spec.action_dim} {noun}", f"set action_dim to {spec.action_dim}",
                         ("action_dim",)))
    if config.action_type != spec.action_type:
        hint = (f"TD-MPC2 plans continuous actions: use model_type 'dreamer' for {spec.env_id}"
                if config.family == "tdmpc2" and spec.action_type == "discrete"
                else f"set action_type to '{spec.action_type}'")
        out.append(error("WF432", f"action_type '{config.action_type}' does not fit {spec.env_id}, whose actions "
                                  f"are {spec.action_type}", hint, ("action_type",)))
    return out


def fit_check(env_ref: str) -> Callable[[Any, Any], list[Problem]]:
    """The ``fit`` check of ``worldflux validate --env ENV_REF`` (see worldflux_cli.validation.validate.Fit).

    ``env_ref`` is an env id with options, built once now (so a bad id stops the command: exit code 2),
    or ``"run"``: each run file is checked against its own env section (built once per distinct env; an
    unknown env there is the file's problem WF433 at $.env.id; a model config has none: WF434).

    Raises:
        WorldfluxError: ``env_ref`` is not an env id (exit code 2).
        EnvError: The environment cannot be built (not installed, unknown, unsupported; exit code 2).
    """
    from worldflux_cli.envs.make import env_spec

    given = None if env_ref == RUN else env_spec(_env_config(env_ref))
    specs: dict[str, EnvSpec | EnvError] = {}

    def fit(config: Any, run: Any) -> list[Problem]:
        if given is not None:
            return fit_problems(config, given)
        if run is None:
            return [error("WF434", "--env run checks a run file against its env, but this is a model config",
                          "give an env id instead: --env dmc:walker-walk")]
        key = run.env.ref()
        if key not in specs:
            try:
                specs[key] = env_spec(run.env)
            except (UnknownEnv, UnsupportedEnv) as exc:
                specs[key] = exc
        spec = specs[key]
        if isinstance(spec, EnvError):
            return [error(spec.code, spec.message, spec.hint, ("env", "id"))]
        return fit_problems(config, spec)

    return fit


def _env_config(env_ref: str) -> EnvConfig:
    try:
        return EnvConfig.from_ref(env_ref)
    except ConfigurationError as exc:
        problem = exc.problems[0] if exc.problems else None
        message = f"--env {env_ref!r}: {problem.message if problem else exc.message}"
        raise WorldfluxError(message, (problem.hint if problem else exc.hint) or "e.g. --env dmc:walker-walk",
                             exit_code=EXIT_FAILED) from None
