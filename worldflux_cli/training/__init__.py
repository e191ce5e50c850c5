"""Training and evaluation: ``worldflux train`` and ``worldflux eval``.

``loop`` is the training loop every model family shares (environments in lock-step, prefill, the train ratio,
evaluation, logs, checkpoints, resume, Ctrl-C, data-parallel ranks); ``agent`` is the interface of a family's
part (replay layout and sampling, acting with its planner or recurrent state, the update, its checkpoint
state) and the registry of agents, ``tdmpc2_agent`` TD-MPC2's. ``layout`` (torch- and numpy-free) says what a
replay entry holds and so the buffer's size, ``replay`` is the buffer, ``env_group`` the environments,
``evaluate`` the evaluation episodes, ``video`` their recording, ``logs`` metrics.jsonl / TensorBoard / the
progress line, ``checkpoint`` the safetensors checkpoints, ``memory`` the memory budget, ``distributed`` the
``--nproc`` ranks, ``card`` the model card's training section.

Modules here import torch and numpy (``layout`` and ``card`` excepted); the CLI imports them inside its
commands only. DreamerV3 has no agent yet.
"""
