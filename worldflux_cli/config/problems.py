"""Problems: the result data of validation, shared by every reporter."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: Stable problem codes. Tools may rely on them; never reuse a retired code.
CODES: dict[str, str] = {
    # the file itself
    "WF001": "file is not valid JSON",
    "WF002": "file is not valid UTF-8",
    "WF003": "duplicate key",
    "WF004": "NaN or Infinity is not a number in JSON",
    "WF005": "nesting too deep",
    "WF006": "file is empty",
    "WF007": "config is not a JSON object",
    "WF008": "file could not be read",
    "WF010": "model_type missing",
    "WF011": "unknown model_type",
    # JSON Schema
    "WF101": "unknown key",
    "WF102": "wrong type",
    "WF103": "value out of range",
    "WF104": "value not allowed",
    "WF105": "required key missing",
    "WF106": "wrong number of items",
    "WF107": "value does not match the expected pattern",
    "WF199": "schema violation",
    # rules a schema cannot say
    "WF201": "observation shape is not (C, H, W) or (D,)",
    "WF202": "image size not divisible by the encoder's total stride",
    "WF203": "derived field disagrees with the fields it is derived from",
    "WF204": "encoder/decoder type does not fit the observation",
    "WF205": "size-preset name with other dimensions",
    "WF206": "gru_blocks does not divide deter_dim",
    "WF207": "cnn_kernels and cnn_multipliers differ in length",
    "WF208": "decoder_blocks does not divide deter_dim and the last CNN stage's channels",
    "WF210": "latent_dim not divisible by simnorm_dim",
    "WF211": "num_elites greater than num_samples",
    "WF212": "num_pi_trajs greater than num_samples",
    "WF213": "TD-MPC2 needs continuous actions",
    "WF214": "vmin not below vmax",
    "WF215": "min_std greater than max_std",
    # warnings
    "WF301": "image observation looks channels-last",
    # training section of a run (worldflux_cli.config.training_rules)
    "WF401": "prefill_steps greater than total_steps",
    "WF402": "eval_interval greater than total_steps",
    "WF403": "checkpoint_interval greater than total_steps",
    "WF404": "log_interval greater than total_steps",
    "WF405": "batch_size x sequence_length greater than replay_size",
    # a run: training against its model (worldflux_cli.config.run)
    "WF410": "TD-MPC2 sequence_length is not horizon + 1",
    "WF411": "a learning rate the model does not have",
    # the env section (worldflux_cli.config.env_ids)
    "WF420": "environment id is not SUITE:NAME with a known suite",
    "WF421": "pixel observations asked of an environment that has none",
    # a config against a real environment (`validate --env`, worldflux_cli.envs.fit)
    "WF430": "obs_shape does not fit the environment",
    "WF431": "action_dim does not fit the environment",
    "WF432": "action_type does not fit the environment",
    "WF433": "unknown environment",
    "WF434": "no environment to check against",
    "WF435": "environment not supported",
    # the model of a run given as a reference
    "WF440": "model reference cannot be read",
}


@dataclass(frozen=True)
class Problem:
    """One problem in one config: what, where, and how to fix it."""

    code: str
    severity: str  # "error" | "warning"
    message: str
    hint: str = ""
    where: tuple[Any, ...] = ()  # JSON path as a tuple of keys / indices
    line: int | None = None
    column: int | None = None
    key: bool = field(default=False, compare=False)  # point at the key, not the value

    @property
    def path(self) -> str:
        return jsonpath(self.where)

    def located(self, line: int | None, column: int | None) -> Problem:
        return replace(self, line=line, column=column)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"code": d["code"], "severity": d["severity"], "path": self.path, "line": d["line"],
                "column": d["column"], "message": d["message"], "hint": d["hint"]}


def jsonpath(where: tuple[Any, ...]) -> str:
    """('obs_shape', 2) -> '$.obs_shape[2]'; odd keys are bracket-quoted."""
    out = "$"
    for part in where:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += "[" + repr(part).replace("\\'", "'") + "]"
    return out


def error(code: str, message: str, hint: str = "", where: tuple[Any, ...] = (), key: bool = False) -> Problem:
    return Problem(code, "error", message, hint, tuple(where), key=key)


def warning(code: str, message: str, hint: str = "", where: tuple[Any, ...] = (), key: bool = False) -> Problem:
    return Problem(code, "warning", message, hint, tuple(where), key=key)
