"""Paired CPU timing: our TD-MPC2 ``model.update`` beside the official ``TDMPC2.update`` (nicklashansen/tdmpc2).

Our code only; the official code is imported from a checkout the user fetched (``--peer PATH``, e.g.
``git clone https://github.com/nicklashansen/tdmpc2`` at e9f5932), with the runtime adaptations written
in tdmpc2_peer.py (config without hydra, CUDA-only calls mapped to the CPU, capturable=False Adam).

- **Ours:** the step ``worldflux bench -w train`` times: ``model.update(batch)`` of
  ``benchmarks/paired/tdmpc2-size5.json`` (official size 5: latent 512, mlp 512, enc 256 x 2, 5 Qs,
  horizon 3, episode length 500 -> discount 0.99), batch 256: the official order (world-model loss,
  backward, clip, Adam; policy loss on the stepped Qs, backward, clip, Adam; target EMA).
- **Theirs:** ``TDMPC2(cfg)`` with cfg = config.yaml + ``MODEL_SIZE[5]``, task_dim 0, obs (39,), 6 actions,
  episode_length 500, batch 256, horizon 3, compile False; each step ``agent.update(buffer)``, where the
  replay buffer (torchrl) is replaced by an object whose ``sample()`` returns one fixed batch in the
  official layout: obs (4, 256, 39), action (3, 256, 6) in [-1, 1], reward (3, 256, 1), terminated zeros,
  task None.

Rounds are processes; in each, 3 warm-up steps per side alternately, then timed steps alternately, the
side that goes first swapped in every other pair (pairing.interleave).

    python benchmarks/paired/driver_tdmpc2.py --peer /path/to/tdmpc2 --deps /path/to/deps --rounds 3
    python benchmarks/paired/driver_tdmpc2.py --peer ... --deps ... --params
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pairing  # noqa: E402
import tdmpc2_peer  # noqa: E402

OBS, ACT, BATCH, HORIZON = 39, 6, 256, 3


def build_ours():
    import torch

    from worldflux_cli.bench.workloads import Context, prepare
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.models import build_model

    values = json.loads((pairing.ROOT / "benchmarks" / "paired" / "tdmpc2-size5.json").read_text())
    config = FAMILIES["tdmpc2"].from_dict(values)
    torch.manual_seed(0)
    model = build_model(config, device="cpu")
    wl = prepare(Context(model, "tdmpc2", torch.device("cpu"), torch.float32, BATCH, HORIZON, False, 0), "train")
    return model, wl.step


def build_theirs(peer: Path, deps: Path | None):
    import torch

    tdmpc2_peer.add_paths(peer, deps)
    import common.scale as scale  # their modules
    import tdmpc2 as official

    tdmpc2_peer.patch_modules(official, scale)
    cfg = tdmpc2_peer.make_cfg(peer, model_size=5, obs_dim=OBS, action_dim=ACT, episode_length=500,
                               task="paired-state", batch_size=BATCH, horizon=HORIZON)
    torch.manual_seed(0)
    agent = official.TDMPC2(cfg)
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(HORIZON + 1, BATCH, OBS, generator=g), torch.rand(HORIZON, BATCH, ACT, generator=g) * 2 - 1,
             torch.randn(HORIZON, BATCH, 1, generator=g), torch.zeros(HORIZON, BATCH, 1), None)

    class FixedBatch:
        def sample(self):
            return batch

    buffer = FixedBatch()
    return agent, (lambda: agent.update(buffer))


def child(args) -> None:
    pairing.set_threads()
    env = pairing.environment_block()
    model, ours_step = build_ours()
    agent, theirs_step = build_theirs(Path(args.peer), args.deps)
    if args.params:
        m = agent.model
        theirs = {k: sum(p.numel() for p in getattr(m, k).parameters()) for k in
                  ("_encoder", "_dynamics", "_reward", "_pi", "_Qs")}
        print(json.dumps({"ours": model.component_params(), "theirs": theirs,
                          "theirs_trainable": sum(p.numel() for p in m.parameters() if p.requires_grad)}))
        return
    records = pairing.interleave({"ours": ours_step, "theirs": theirs_step}, args.warmup, args.pairs,
                                     log=lambda s: print(s, flush=True))
    print(json.dumps({"case": "tdmpc2-size5", "env": env, "md5": pairing.model_files_md5(),
                      "summary": pairing.summarise(records, "ours", "theirs"), "records": records}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, help="path to a checkout of nicklashansen/tdmpc2")
    ap.add_argument("--deps", type=Path, default=None, help="folder holding tensordict (pip --target)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--params", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    pairing.ensure_environment()
    if args.child or args.params:
        child(args)
        return
    results = pairing.run_rounds(sys.argv, args.rounds, args.out)
    pairing.print_rounds(results)


if __name__ == "__main__":
    main()
