"""Paired CPU timing: our DreamerV3 world-model step beside NM512/dreamerv3-torch's ``WorldModel._train``.

Our code only; the public implementation is imported from a checkout the user fetched (``--peer PATH``,
e.g. ``git clone https://github.com/NM512/dreamerv3-torch`` at 6ef8646) and is not modified on disk.

Each round is one process that builds both models, runs the warm-up steps alternately, then the timed
steps alternately (ours, theirs, then theirs, ours, ...), ``time.perf_counter`` around each single step,
with the machine's and the other processes' CPU recorded per step (pairing.py).

- **Ours:** the step ``worldflux bench -w train`` times (``bench/workloads.py``): ``world_model_loss`` over
  (B, T) + backward + the model's optimizer (``"optimizer": "adam"``: Adam lr 1e-4, eps 1e-8, global-norm
  clip 1000 as the peer's, warm-up 0) on the world model; the config is ``benchmarks/paired/<case>.json``.
- **Theirs:** ``configs.yaml`` is read as their ``dreamer.py`` reads it (``defaults`` + ``dmc_vision``, then
  the overrides below, each value through their ``tools.args_type``); ``models.WorldModel(obs_space,
  act_space, 0, config)`` with obs_space = image (64, 64, 3) uint8, ``is_first``, ``is_last``,
  ``is_terminal``; 4 discrete actions; device cpu, ``compile False``, ``precision 32``, batch 16 x 64. A
  fixed numpy batch (random uint8 images, one-hot actions, normal rewards, ~2% terminals, ``is_first`` at
  t = 0 and after terminals, discount) is made once; each step is ``wm._train(batch)``.
- **Runtime patch:** none needed when ``torch.utils.tensorboard`` imports (their ``tools.py`` imports it at
  module level; only ``tools.Logger`` uses it). Where it does not, a module exposing
  ``SummaryWriter = object`` is put in ``sys.modules`` before their code is imported.

Usage (from the repository root, venv active; the allocator tip and 2 threads are set by the script):

    python benchmarks/paired/driver_dreamerv3_torch.py --peer /path/to/dreamerv3-torch --case tiny --rounds 3
    python benchmarks/paired/driver_dreamerv3_torch.py --peer ... --case 12m-like --rounds 3 --pairs 7
    python benchmarks/paired/driver_dreamerv3_torch.py --peer ... --case tiny --params   # counts only
    python benchmarks/paired/driver_dreamerv3_torch.py --peer ... --case tiny --flops    # one step each
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pairing  # noqa: E402

CASES = {  # our config file, their overrides of defaults + dmc_vision
    "12m-like": ("dreamer-12m-like-cnnmatch", dict(dyn_deter=2048, dyn_stoch=16, dyn_discrete=16, dyn_hidden=256,
                                                   units=256, cnn_depth=48)),
    "tiny": ("dreamer-tiny-cnnmatch", dict(dyn_deter=64, dyn_stoch=4, dyn_discrete=4, dyn_hidden=32, units=32,
                                           cnn_depth=8)),
}
BATCH, SEQ, ACTIONS = 16, 64, 4


def build_ours(case: str):
    import torch

    from worldflux_cli.bench.workloads import Context, prepare
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.models import build_model

    values = json.loads((pairing.ROOT / "benchmarks" / "paired" / f"{CASES[case][0]}.json").read_text())
    config = FAMILIES[values["model_type"]].from_dict(values)
    torch.manual_seed(0)
    model = build_model(config, device="cpu")
    wl = prepare(Context(model, "dreamer", torch.device("cpu"), torch.float32, BATCH, SEQ, False, 0), "train")
    return model, wl.step, wl.eager_step


def _peer_config(peer: Path, overrides: dict):
    import ruamel.yaml as yaml

    configs = yaml.YAML(typ="safe", pure=True).load((peer / "configs.yaml").read_text())

    def recursive_update(base, update):  # as their dreamer.py
        for key, value in update.items():
            if isinstance(value, dict) and key in base:
                recursive_update(base[key], value)
            else:
                base[key] = value

    values: dict = {}
    for name in ("defaults", "dmc_vision"):
        recursive_update(values, configs[name])
    depth = overrides.pop("cnn_depth")
    recursive_update(values, {**overrides, "device": "cpu", "compile": False, "precision": 32,
                              "batch_size": BATCH, "batch_length": SEQ,
                              "encoder": {"cnn_depth": depth}, "decoder": {"cnn_depth": depth}})
    import tools  # their module (on sys.path)

    parsed = {k: tools.args_type(v)(v) for k, v in values.items()}
    parsed["num_actions"] = ACTIONS
    return types.SimpleNamespace(**parsed)


def import_peer(peer: Path) -> None:
    sys.path.insert(0, str(peer))
    try:
        import torch.utils.tensorboard  # noqa: F401
    except Exception:  # their tools.py imports it at module level; the update never uses it
        stub = types.ModuleType("torch.utils.tensorboard")
        stub.SummaryWriter = object
        sys.modules["torch.utils.tensorboard"] = stub


def build_theirs(peer: Path, case: str):
    import gymnasium as gym
    import numpy as np
    import torch

    import_peer(peer)
    import models  # their module

    config = _peer_config(peer, dict(CASES[case][1]))
    obs_space = gym.spaces.Dict({
        "image": gym.spaces.Box(0, 255, (64, 64, 3), dtype=np.uint8),
        "is_first": gym.spaces.Box(0, 1, (1,), dtype=bool), "is_last": gym.spaces.Box(0, 1, (1,), dtype=bool),
        "is_terminal": gym.spaces.Box(0, 1, (1,), dtype=bool)})
    act_space = gym.spaces.Discrete(ACTIONS)
    torch.manual_seed(0)
    wm = models.WorldModel(obs_space, act_space, 0, config).to("cpu")
    rng = np.random.default_rng(0)
    terminal = rng.random((BATCH, SEQ)) < 0.02
    first = np.zeros((BATCH, SEQ), bool)
    first[:, 0], first[:, 1:] = True, terminal[:, :-1]
    batch = {"image": rng.integers(0, 256, (BATCH, SEQ, 64, 64, 3), dtype=np.uint8),
             "action": np.eye(ACTIONS, dtype=np.float32)[rng.integers(0, ACTIONS, (BATCH, SEQ))],
             "reward": rng.standard_normal((BATCH, SEQ)).astype(np.float32),
             "is_first": first.astype(np.float32), "is_terminal": terminal.astype(np.float32),
             "discount": (~terminal).astype(np.float32)}
    return wm, (lambda: wm._train(batch)), config


def count(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def child(args) -> None:
    pairing.set_threads()
    env = pairing.environment_block()
    ours_model, ours_step, ours_eager = build_ours(args.case)
    wm, theirs_step, _ = build_theirs(Path(args.peer), args.case)
    wm_params = {name: count(getattr(wm, name)) for name in ("encoder", "dynamics")}
    wm_params.update({f"heads.{k}": count(v) for k, v in wm.heads.items()})
    ours_params = dict(ours_model.component_params())
    if args.params:
        print(json.dumps({"ours": ours_params, "ours_world_model": sum(p.numel() for p in
                          ours_model.world_model_parameters() if p.requires_grad),
                          "theirs": wm_params, "theirs_world_model": count(wm)}))
        return
    if args.flops:
        print(json.dumps({"ours_flops": flops(ours_eager), "theirs_flops": flops(theirs_step)}))
        return
    records = pairing.interleave({"ours": ours_step, "theirs": theirs_step}, args.warmup, args.pairs,
                                log=lambda s: print(s, flush=True))
    print(json.dumps({"case": args.case, "env": env, "md5": pairing.model_files_md5(),
                      "summary": pairing.summarise(records, "ours", "theirs"), "records": records}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, help="path to a checkout of NM512/dreamerv3-torch")
    ap.add_argument("--case", choices=sorted(CASES), default="tiny")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=None, help="timed pairs per round (tiny 9, 12m-like 7)")
    ap.add_argument("--params", action="store_true", help="print both sides' parameter counts and exit")
    ap.add_argument("--flops", action="store_true", help="count one eager step's FLOPs on each side and exit")
    ap.add_argument("--out", type=Path, default=None, help="append each round's JSON to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.pairs = args.pairs or (9 if args.case == "tiny" else 7)
    pairing.ensure_environment()
    if args.child or args.params or args.flops:
        child(args)
        return
    results = pairing.run_rounds(sys.argv, args.rounds, args.out)
    pairing.print_rounds(results)


if __name__ == "__main__":
    main()
