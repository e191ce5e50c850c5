"""Training and evaluation of TD-MPC2 on state observations: ``worldflux train`` and ``worldflux eval``.

``replay`` holds the replay buffer, ``checkpoint`` the safetensors checkpoints (weights, optimizer state,
counters, RNG states, the replay buffer), ``loop`` the training loop and the evaluation episodes.
Modules here import torch and numpy; the CLI imports them inside its commands only.
DreamerV3 training is not part of this package yet.
"""
