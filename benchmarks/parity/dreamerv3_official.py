"""Driver for the OFFICIAL DreamerV3 (danijar/dreamerv3, JAX), for number-for-number parity with worldflux.

Nothing of the official code is copied here: ``load_official(path)`` puts a checkout of the official
repository (the folder holding ``dreamerv3/`` and ``embodied/``, e.g. commit e3f0224) on ``sys.path`` and
imports it. Its Python needs jax/jaxlib 0.4.33 (CPU), ninjax, elements, einops, chex, optax, portal,
granular, scope, ruamel.yaml, numpy<2 (see /work/official/NOTES.md for a version set that runs).

    import dreamerv3_official as dv3
    dv3.load_official('/work/official/dreamerv3')
    obj = dv3.build('vec-cont')                     # tiny dims, every parameter random
    outs = dv3.outputs(obj, dv3.example_inputs(obj), noise_seed=1)
    losses = dv3.loss_terms(obj, dv3.example_batch(obj), noise_seed=2)
    step = dv3.train_step(obj, dv3.example_batch(obj), noise_seed=3)
    dv3.save_checkpoint(obj, '/tmp/run')            # <folder>/ckpt/latest, <folder>/ckpt/<stamp>/agent.pkl ...

Everything runs on the official model's own functions (Agent.train / Agent.loss / RSSM.observe /
RSSM.imagine / the heads) through ``ninjax.pure`` on the official state dict.

Noise injection (``inject_noise``), the protocol the PyTorch side reproduces:

* one stream ``numpy.random.default_rng(noise_seed)`` (PCG64), drawn in the order the official code
  calls its samplers (python order: ``jax.disable_jit()`` is on, so every ``nj.scan`` / ``jax.lax.scan``
  runs as a python loop, step by step);
* ``OneHot.sample`` (RSSM latents, unimix applied) and ``Categorical.sample`` (discrete actions; the
  official discrete policy has NO unimix) on logits ``(..., K)``: ``u = rng.random(shape[:-1])``
  (float64, C order); ``p = softmax(float64(dist.logits))`` where ``dist.logits`` are the float32 logits the
  official distribution stores (for unimix: ``log((1-m) softmax(l) + m/K)`` computed in float32);
  ``index = min(K-1, #{k : cumsum(p)[k] < u})``. OneHot returns ``onehot(index) + probs - sg(probs)``
  (the official straight-through), Categorical returns the int32 index;
* ``Normal.sample`` (continuous actions): ``eps = rng.standard_normal(mean.shape)`` (float64, C order),
  returned as ``float32(eps) * stddev + mean`` (no clipping, as in the official code);
* calls that ninjax makes in a "prerun" (``nj.scan`` / ``nj.grad`` run their body once with
  ``ignore=True`` to discover the state they touch) draw nothing and return the mode.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import pickletools
import sys
import time
import types

import numpy as np

OFF = None  # namespace of imported official modules, set by load_official

KINDS = ("vec-cont", "vec2-cont", "img-disc", "img-disc-strided")

# The tiny dims used for parity. Everything else is the official `defaults` of configs.yaml.
TINY = {
    "agent.dyn.rssm.deter": 64,
    "agent.dyn.rssm.hidden": 32,
    "agent.dyn.rssm.stoch": 4,
    "agent.dyn.rssm.classes": 4,
    "agent.dyn.rssm.blocks": 4,
    r".*\.units": 32,  # enc/dec/rewhead/conhead/policy/value units
    r".*\.depth": 4,  # enc/dec CNN depth (mults 2,3,4,4 -> 8,12,16,16 channels), kernel 5
}


def load_official(path):
    """Import the official modules from the checkout at ``path`` (holding dreamerv3/ and embodied/)."""
    global OFF
    path = os.path.abspath(os.fspath(path))
    assert os.path.isfile(os.path.join(path, "dreamerv3", "agent.py")), path
    if path not in sys.path:
        sys.path.insert(0, path)
    import jax

    jax.config.update("jax_platforms", "cpu")
    import dreamerv3.agent
    import dreamerv3.rssm
    import elements
    import embodied
    import embodied.jax
    import embodied.jax.internal
    import embodied.jax.nets
    import embodied.jax.outs
    import jax.numpy as jnp
    import ninjax as nj
    import optax
    import ruamel.yaml as yaml

    configs = yaml.YAML(typ="safe").load(elements.Path(os.path.join(path, "dreamerv3", "configs.yaml")).read())
    OFF = types.SimpleNamespace(
        path=path,
        jax=jax,
        jnp=jnp,
        nj=nj,
        optax=optax,
        elements=elements,
        embodied=embodied,
        ejax=embodied.jax,
        nets=embodied.jax.nets,
        outs=embodied.jax.outs,
        internal=embodied.jax.internal,
        agentlib=dreamerv3.agent,
        rssm=dreamerv3.rssm,
        configs=configs,
    )
    return OFF


def _off():
    if OFF is None:
        raise RuntimeError("call load_official(path) first")
    return OFF


###############################################################################
# Building
###############################################################################


def spaces(kind, img_size=64, num_actions=4):
    """obs_space, act_space (dicts of elements.Space) for a config kind."""
    E = _off().elements
    extra = {
        "reward": E.Space(np.float32),
        "is_first": E.Space(bool),
        "is_last": E.Space(bool),
        "is_terminal": E.Space(bool),
    }
    if kind == "vec-cont":
        obs = {"state": E.Space(np.float32, (5,))}
        act = {"action": E.Space(np.float32, (3,), -1, 1)}
    elif kind == "vec2-cont":
        obs = {"b": E.Space(np.float32, (2,)), "a": E.Space(np.float32, (3,))}
        act = {"action": E.Space(np.float32, (3,), -1, 1)}
    elif kind in ("img-disc", "img-disc-strided"):
        obs = {"image": E.Space(np.uint8, (img_size, img_size, 3))}
        act = {"action": E.Space(np.int32, (), 0, num_actions)}
    else:
        raise ValueError(kind)
    return {**obs, **extra}, act


class Official:
    """Holds the official agent (outer embodied.jax.Agent), its inner model and the config."""

    def __init__(self, kind, agent, config, compute_dtype, obs_space, act_space):
        self.kind = kind
        self.agent = agent  # embodied.jax.Agent (outer); .params is the full ninjax state dict
        self.model = agent.model  # dreamerv3.agent.Agent (inner): enc, dyn, dec, rew, con, pol, val, ...
        self.config = config  # full top-level elements.Config (as main.py builds it)
        self.compute_dtype = compute_dtype
        self.obs_space = obs_space
        self.act_space = act_space

    @property
    def state(self):
        return self.agent.params

    def __repr__(self):
        return f"Official({self.kind}, {self.compute_dtype}, {len(self.agent.params)} state entries)"


@contextlib.contextmanager
def _dtype(obj):
    """The official code reads the global embodied.jax.nets.COMPUTE_DTYPE; set it to this object's."""
    o = _off()
    old = o.nets.COMPUTE_DTYPE
    o.nets.COMPUTE_DTYPE = getattr(o.jnp, obj.compute_dtype)
    try:
        yield
    finally:
        o.nets.COMPUTE_DTYPE = old


def make_config(
    kind,
    compute_dtype="float32",
    seed=0,
    batch_size=2,
    batch_length=6,
    logdir="/tmp/dv3-parity",
    replay_context=0,
    tiny=True,
    **overrides,
):
    """Top-level config: configs.yaml `defaults` + tiny dims + overrides (keys as in configs.yaml, dotted;
    regex keys such as r'.*\\.units' allowed, as on the official command line)."""
    o = _off()
    config = o.elements.Config(o.configs["defaults"])
    upd = {
        "jax.platform": "cpu",
        "jax.compute_dtype": compute_dtype,
        "jax.prealloc": False,
        "jax.jit": True,
        "seed": seed,
        "batch_size": batch_size,
        "batch_length": batch_length,
        "replay_context": replay_context,
        "logdir": logdir,
    }
    if tiny:
        upd.update(TINY)
    if kind == "img-disc-strided":
        upd["agent.enc.simple.strided"] = True
        upd["agent.dec.simple.strided"] = True
    upd.update(overrides)
    # Apply exact keys first and regex keys after, as elements.Flags does for command line flags.
    plain = {k: v for k, v in upd.items() if not config.IS_PATTERN.match(k)}
    regex = {k: v for k, v in upd.items() if config.IS_PATTERN.match(k)}
    config = config.update(plain)
    for k, v in regex.items():
        config = config.update({k: v})
    return config


def agent_config(config):
    """The agent config exactly as dreamerv3/main.py make_agent() builds it, with CPU-friendly jax options:
    precompile off (train/report are jitted lazily), profiler off, transfer guard off (numpy inputs)."""
    o = _off()
    jaxcfg = dict(config.jax)
    jaxcfg.update(precompile=False, profiler=False, transfer_guard=False)
    return o.elements.Config(
        **config.agent,
        logdir=config.logdir,
        seed=config.seed,
        jax=jaxcfg,
        batch_size=config.batch_size,
        batch_length=config.batch_length,
        replay_context=config.replay_context,
        report_length=config.report_length,
        replica=config.replica,
        replicas=config.replicas,
    )


def build(kind, compute_dtype="float32", seed=0, randomize=True, img_size=64, quiet=True, **overrides):
    """Build the official agent for ``kind`` ('vec-cont', 'vec2-cont', 'img-disc', 'img-disc-strided') with
    the tiny dims; with ``randomize`` every parameter is then replaced by random values (see randomize_params).
    ``overrides``: config keys (dotted, as in configs.yaml), e.g. ``**{'agent.imag_length': 3}``."""
    o = _off()
    config = make_config(kind, compute_dtype, seed, **overrides)
    obs_space, act_space = spaces(kind, img_size)
    with _quiet(quiet):
        agent = o.agentlib.Agent(obs_space, act_space, agent_config(config))
    obj = Official(kind, agent, config, compute_dtype, obs_space, act_space)
    if randomize:
        randomize_params(obj, seed)
    return obj


@contextlib.contextmanager
def _quiet(quiet):
    if not quiet:
        yield
        return
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield


TRAINABLE = ("dyn", "enc", "dec", "rew", "con", "pol", "val")  # the optimizer's modules, in its order


def is_param(key):
    """A model parameter (trained by the optimizer, or the slow value copy) as opposed to other state."""
    return key.split("/")[0] in TRAINABLE + ("slowval",)


def fan_in(key, shape):
    """Actual number of inputs of one output unit: Linear (in, out) -> in; BlockLinear (g, in/g, out/g) -> in/g;
    Conv2D (k, k, cin, cout) -> k*k*cin."""
    if len(shape) == 2:
        return shape[0]
    if len(shape) == 3:
        return shape[1]
    if len(shape) == 4:
        return shape[0] * shape[1] * shape[2]
    raise ValueError((key, shape))


def randomize_params(obj, seed=0, twohot_prior=1.5):
    """Replace every parameter (model + slow value copy) by random values, numpy default_rng(seed), keys in
    sorted order: kernels normal * 0.5/sqrt(fan_in); biases normal * 0.1; norm scales uniform(0.75, 1.25).
    The biases of the 255-bin symexp-twohot logits (rew, val, slowval) get -twohot_prior*|linspace(-20, 20)|
    added (bins at symlog value z, so the tails are suppressed and the means stay O(1); 0 disables it).
    The slow value gets its own draws (different from the value head). Other state (optimizer moments and
    counters, retnorm lo/hi, slowval_count) keeps its official initial value (zeros)."""
    rng = np.random.default_rng(seed)
    new = {}
    for key in sorted(obj.agent.params):
        if not is_param(key):
            continue
        v = obj.agent.params[key]
        shape = tuple(v.shape)
        last = key.rsplit("/", 1)[-1]
        if last == "kernel":
            x = rng.standard_normal(shape) * (0.5 / math.sqrt(fan_in(key, shape)))
        elif last == "bias":
            x = rng.standard_normal(shape) * 0.1
            if twohot_prior and key.split("/")[0] in ("rew", "val", "slowval") and key.endswith("head/logits/bias"):
                # symexp-twohot heads (rew, val, slowval): random logits on bins up to symexp(20) ~ 4.9e8
                # give means of ~1e6; a prior -c*|symlog(bin)| keeps the predicted means O(1).
                z = np.linspace(-20, 20, shape[-1])
                x = x - twohot_prior * np.abs(z)
        elif last == "scale":
            x = rng.uniform(0.75, 1.25, shape)
        else:
            raise ValueError(key)
        new[key] = x.astype(v.dtype)
    set_params(obj, new)


def params(obj, which="all"):
    """Flat dict name -> numpy array of the official state. which: 'all' (everything agent.save() writes),
    'model' (trainable parameters + slow value), 'opt' (optimizer state), 'other' (the rest)."""
    jax = _off().jax
    out = {}
    for k, v in obj.agent.params.items():
        if which == "model" and not is_param(k):
            continue
        if which == "opt" and not k.startswith("opt/"):
            continue
        if which == "other" and (is_param(k) or k.startswith("opt/")):
            continue
        out[k] = np.asarray(jax.device_get(v))
    return out


def set_params(obj, values, strict=True):
    """Load values (name -> array, shapes/dtypes as the official state) into the agent, train and policy copies."""
    o = _off()
    cur = obj.agent.params
    new = dict(cur)
    for k, v in values.items():
        if k not in cur:
            if strict:
                raise KeyError(k)
            continue
        v = np.asarray(v)
        assert tuple(v.shape) == tuple(cur[k].shape), (k, v.shape, cur[k].shape)
        new[k] = o.jax.device_put(v.astype(cur[k].dtype), cur[k].sharding)
    obj.agent.params = new
    _sync_policy(obj)


def _sync_policy(obj):
    o = _off()
    a = obj.agent
    if a.jaxcfg.enable_policy:
        a.policy_params = o.internal.move({k: a.params[k].copy() for k in a.policy_keys}, a.policy_params_sharding)


def param_table(obj):
    """name -> (shape, dtype) of the full state."""
    return {k: (tuple(v.shape), str(v.dtype)) for k, v in obj.agent.params.items()}


###############################################################################
# Noise injection
###############################################################################


class NoiseStream:
    """numpy default_rng(seed) stream; log holds one entry per draw: (site, caller, shape)."""

    def __init__(self, seed):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.log = []
        self.values = []

    def uniform(self, shape, site, caller):
        u = self.rng.random(shape)
        self.log.append((site, caller, tuple(shape)))
        self.values.append(u)
        return u

    def normal(self, shape, site, caller):
        e = self.rng.standard_normal(shape)
        self.log.append((site, caller, tuple(shape)))
        self.values.append(e)
        return e

    def flat(self):
        return np.concatenate([np.ravel(v) for v in self.values]) if self.values else np.zeros(0)


def _concrete(x):
    jax = _off().jax
    x = jax.lax.stop_gradient(x)
    try:
        return np.asarray(x)
    except Exception:
        pval = getattr(x, "pval", None)
        if pval is not None and pval.get_known() is not None:
            return np.asarray(pval.get_known())
        raise


def _prerunning():
    ctx = _off().nj.ninjax.CONTEXT.get(__import__("threading").get_ident())
    return ctx is not None and ctx.ignore


def _caller():
    """Name of the official function that asked for the sample (for the call-order log): '_observe' (RSSM
    posterior), 'imagine' (policy or prior sample inside RSSM.imagine), 'policy' (Agent.policy), 'loss' (the
    last imagined action in Agent.loss), 'driver' (called from this module)."""
    stack = inspect.stack()[2:40]
    for fr in stack:
        official = "/dreamerv3/" in fr.filename or "/embodied/" in fr.filename
        if official and fr.function in ("_observe", "imagine", "policy", "loss", "report"):
            return fr.function
    return "driver" if any(fr.filename == __file__ for fr in stack) else "?"


def categorical_index(logits, u):
    """index = min(K-1, #{k : cumsum(softmax(float64 logits))[k] < u}); logits (..., K), u (...)."""
    lg = np.asarray(logits, np.float64)
    lg = lg - lg.max(-1, keepdims=True)
    p = np.exp(lg)
    p = p / p.sum(-1, keepdims=True)
    cdf = np.cumsum(p, -1)
    idx = (cdf < np.asarray(u)[..., None]).sum(-1)
    return np.minimum(idx, lg.shape[-1] - 1)


@contextlib.contextmanager
def inject_noise(noise_seed):
    """Within: jax.disable_jit() and every official sampler draws from NoiseStream(noise_seed) (yielded)."""
    o = _off()
    jax, jnp, outs = o.jax, o.jnp, o.outs
    stream = noise_seed if isinstance(noise_seed, NoiseStream) else NoiseStream(noise_seed)
    orig = {
        "Categorical": outs.Categorical.sample,
        "OneHot": outs.OneHot.sample,
        "Normal": outs.Normal.sample,
        "Binary": outs.Binary.sample,
    }

    def cat_sample(self, seed, shape=()):
        assert shape == (), shape
        if _prerunning():
            return jnp.argmax(self.logits, -1)
        lg = _concrete(self.logits)
        u = stream.uniform(lg.shape[:-1], "categorical", _caller())
        return jnp.asarray(categorical_index(lg, u), jnp.int32)

    def onehot_sample(self, seed, shape=()):
        assert shape == (), shape
        if _prerunning():
            return self._onehot_with_grad(jnp.argmax(self.dist.logits, -1))
        lg = _concrete(self.dist.logits)
        u = stream.uniform(lg.shape[:-1], "onehot", _caller())
        return self._onehot_with_grad(jnp.asarray(categorical_index(lg, u), jnp.int32))

    def normal_sample(self, seed, shape=()):
        assert shape == (), shape
        if _prerunning():
            return self.mean
        e = stream.normal(tuple(self.mean.shape), "normal", _caller())
        return jnp.asarray(e, jnp.float32) * self.stddev + self.mean

    def binary_sample(self, seed, shape=()):
        raise NotImplementedError("Binary.sample is not used by DreamerV3")

    outs.Categorical.sample = cat_sample
    outs.OneHot.sample = onehot_sample
    outs.Normal.sample = normal_sample
    outs.Binary.sample = binary_sample
    try:
        with jax.disable_jit():
            yield stream
    finally:
        outs.Categorical.sample = orig["Categorical"]
        outs.OneHot.sample = orig["OneHot"]
        outs.Normal.sample = orig["Normal"]
        outs.Binary.sample = orig["Binary"]


def _jseed(obj, counter=0):
    """The jax seed the official agent passes to a call (Agent._seeds): default_rng([seed, counter])."""
    rng = np.random.default_rng(seed=[obj.config.seed, int(counter)])
    return rng.integers(0, np.iinfo(np.uint32).max, (2,), np.uint32)


def _run(obj, fn, *args, noise_seed=None, counter=0, keep_state=False, **kwargs):
    """Run an impure official function through ninjax.pure on the agent state; with noise_seed under
    inject_noise. Returns (new_state, out, stream)."""
    o = _off()
    state = dict(obj.agent.params)
    ctx = inject_noise(noise_seed) if noise_seed is not None else contextlib.nullcontext(None)
    with _dtype(obj), ctx as stream:
        new, out = o.nj.pure(fn)(state, *args, seed=o.jnp.asarray(_jseed(obj, counter)), **kwargs)
    if keep_state:
        obj.agent.params = {k: new[k] for k in obj.agent.params}
        _sync_policy(obj)
    return new, out, stream


def _np(tree):
    jax = _off().jax
    return jax.tree.map(
        lambda x: (
            np.asarray(jax.device_get(x)).astype(np.float32)
            if getattr(x, "dtype", None) == _off().jnp.bfloat16
            else np.asarray(jax.device_get(x))
        ),
        tree,
    )


###############################################################################
# Inputs
###############################################################################


def example_inputs(obj, B=2, T=5, N=3, H=3, seed=123):
    """A fixed input batch for outputs(): obs keys, reward, is_first (t=0, and t=3 of row 1), is_last/
    is_terminal (row 1 ends at t=2 with a terminal), action[t] = the action taken at t (prevact is derived),
    start_deter (N, deter) / start_stoch (N, stoch, classes) one-hot for the imagination, H."""
    rng = np.random.default_rng(seed)
    d = {}
    for k, s in obj.obs_space.items():
        if k in ("reward", "is_first", "is_last", "is_terminal"):
            continue
        if s.dtype == np.uint8:
            d[k] = rng.integers(0, 256, (B, T, *s.shape), dtype=np.uint8)
        else:
            d[k] = (rng.standard_normal((B, T, *s.shape)) * 2.0).astype(s.dtype)
    d["reward"] = rng.standard_normal((B, T)).astype(np.float32)
    d["is_first"] = np.zeros((B, T), bool)
    d["is_first"][:, 0] = True
    d["is_first"][1, 3] = True
    d["is_last"] = np.zeros((B, T), bool)
    d["is_terminal"] = np.zeros((B, T), bool)
    d["is_last"][1, 2] = True
    d["is_terminal"][1, 2] = True
    for k, s in obj.act_space.items():
        if s.discrete:
            d[k] = rng.integers(s.low, s.high, (B, T, *s.shape)).astype(s.dtype)
        else:
            d[k] = rng.uniform(-1, 1, (B, T, *s.shape)).astype(s.dtype)
    rs = obj.model.dyn
    d["start_deter"] = rng.uniform(-1, 1, (N, rs.deter)).astype(np.float32)
    d["start_stoch"] = np.eye(rs.classes, dtype=np.float32)[rng.integers(0, rs.classes, (N, rs.stoch))]
    d["H"] = np.int64(H)
    return d


def example_batch(obj, B=2, T=6, seed=321):
    """A fixed train batch (keys = agent.spaces: obs, action, consec, stepid) for loss_terms / train_step;
    is_first at t=0 and row 1 t=4; row 1 terminal at t=3; row 0 is_last (truncation) at t=5."""
    rng = np.random.default_rng(seed)
    d = example_inputs(obj, B, T, seed=seed)
    for k in ("start_deter", "start_stoch", "H"):
        d.pop(k)
    d["is_first"][:] = False
    d["is_first"][:, 0] = True
    d["is_first"][1, 4] = True
    d["is_last"][:] = False
    d["is_terminal"][:] = False
    d["is_last"][1, 3] = d["is_terminal"][1, 3] = True
    d["is_last"][0, 5] = True
    d["consec"] = np.zeros((B, T), np.int32)
    d["stepid"] = rng.integers(0, 256, (B, T, 20), dtype=np.uint8)
    C = obj.config.replay_context
    if C:
        rs = obj.model.dyn
        d["dyn/deter"] = rng.uniform(-1, 1, (B, T, rs.deter)).astype(np.float32)
        d["dyn/stoch"] = np.eye(rs.classes, dtype=np.float32)[rng.integers(0, rs.classes, (B, T, rs.stoch))]
    assert sorted(d) == sorted(obj.agent.spaces), (sorted(d), sorted(obj.agent.spaces))
    return d


def _prevact(obj, data):
    """prevact[t] = action[t-1], prevact[0] = 0 (the init carry), as Agent._apply_replay_context."""
    out = {}
    for k in obj.act_space:
        a = np.asarray(data[k])
        out[k] = np.concatenate([np.zeros_like(a[:, :1]), a[:, :-1]], 1)
    return out


###############################################################################
# Component outputs
###############################################################################


def _dist_out(prefix, d, res):
    """Flatten an official output object into named arrays."""
    outs = _off().outs
    inner = d.output if isinstance(d, outs.Agg) else d
    if isinstance(inner, outs.TwoHot):
        res[prefix + "/logits"] = inner.logits
        res[prefix + "/mean"] = inner.pred()
    elif isinstance(inner, outs.Binary):
        res[prefix + "/logit"] = inner.logit
        res[prefix + "/prob"] = d.prob(1)
    elif isinstance(inner, outs.Categorical):
        res[prefix + "/logits"] = inner.logits
    elif isinstance(inner, outs.Normal):
        res[prefix + "/mean"] = inner.mean
        res[prefix + "/std"] = inner.stddev
    elif isinstance(inner, outs.MSE):
        res[prefix + "/mean"] = inner.mean
    else:
        raise TypeError(type(inner))


def outputs(obj, inputs, noise_seed):
    """Component outputs of the official model on one fixed input batch (see example_inputs), with injected
    noise. Noise order: posterior samples t=0..T-1 (each (B, stoch) uniforms), then imagination from
    (start_deter, start_stoch): for h=0..H-1 [policy sample on the current state, prior sample of the next
    state], then one more policy sample on the last imagined state ('imag/lastact', as in Agent.loss).
    All names are documented in NOTES.md; returns (dict name -> numpy, NoiseStream)."""
    o = _off()
    jnp = o.jnp
    m = obj.model
    H = int(inputs.get("H", 3))
    data = {k: jnp.asarray(v) for k, v in inputs.items() if k not in ("H", "start_deter", "start_stoch")}
    prevact = {k: jnp.asarray(v) for k, v in _prevact(obj, inputs).items()}
    B = inputs["is_first"].shape[0]

    def fn():
        res = {}
        obs = {k: data[k] for k in obj.obs_space}
        reset = obs["is_first"]
        _, _, tokens = m.enc({}, obs, reset, training=False)
        res["enc/tokens"] = tokens
        carry0 = m.dyn.initial(B)
        _, entries, feat = m.dyn.observe(carry0, tokens, prevact, reset, training=False)
        res["post/deter"], res["post/stoch"], res["post/logit"] = feat["deter"], feat["stoch"], feat["logit"]
        res["prior/logit"] = m.dyn._prior(feat["deter"])
        _, _, recons = m.dec({}, feat, reset, training=False)
        for k, r in recons.items():
            _dist_out(f"dec/{k}", r, res)
        x = m.feat2tensor(feat)
        res["feat"] = x
        _dist_out("rew", m.rew(x, 2), res)
        _dist_out("con", m.con(x, 2), res)
        for k, d in m.pol(x, 2).items():
            _dist_out(f"pol/{k}", d, res)
        _dist_out("val", m.val(x, 2), res)
        _dist_out("slowval", m.slowval(x, 2), res)
        # Imagination from given starts.
        starts = o.nets.cast(dict(deter=jnp.asarray(inputs["start_deter"]), stoch=jnp.asarray(inputs["start_stoch"])))

        def policyfn(f):
            return o.agentlib.sample(m.pol(m.feat2tensor(f), 1))

        _, imgfeat, imgact = m.dyn.imagine(starts, policyfn, H, training=False)
        res["imag/deter"], res["imag/stoch"], res["imag/logit"] = imgfeat["deter"], imgfeat["stoch"], imgfeat["logit"]
        for k, v in imgact.items():
            res[f"imag/action/{k}"] = v
        last = policyfn({k: v[:, -1] for k, v in imgfeat.items()})
        for k, v in last.items():
            res[f"imag/lastact/{k}"] = v
        # Heads on [start, imag_0 .. imag_{H-1}] (N, H+1): the states the imagination loss sees.
        allfeat = {k: jnp.concatenate([starts[k][:, None], imgfeat[k]], 1) for k in ("deter", "stoch")}
        xi = m.feat2tensor(allfeat)
        for k, d in m.pol(xi, 2).items():
            _dist_out(f"imag/pol/{k}", d, res)
        _dist_out("imag/rew", m.rew(xi, 2), res)
        _dist_out("imag/con", m.con(xi, 2), res)
        _dist_out("imag/val", m.val(xi, 2), res)
        _dist_out("imag/slowval", m.slowval(xi, 2), res)
        return res

    _, res, stream = _run(obj, fn, noise_seed=noise_seed)
    return _np(res), stream


def policy_step(obj, obs, carry=None, noise_seed=None, mode="train"):
    """One official policy() step (Agent.policy: enc -> dyn.observe(single) -> posterior sample -> policy
    sample) on obs (B,) batch; carry None = init_policy. Returns (carry, act, out, stream)."""
    o = _off()
    m = obj.model
    B = np.asarray(obs["is_first"]).shape[0]
    obs = {k: o.jnp.asarray(v) for k, v in obs.items()}

    def fn():
        c = m.init_policy(B) if carry is None else carry
        return m.policy(c, obs, mode)

    _, (c, act, out), stream = _run(obj, fn, noise_seed=noise_seed)
    return c, _np(act), _np(out), stream


###############################################################################
# Loss and train
###############################################################################


def _split_batch(obj, batch):
    o = _off()
    data = {k: o.jnp.asarray(v) for k, v in batch.items()}
    return data


def loss_terms(obj, batch, noise_seed, training=True):
    """The official Agent.loss on a batch (keys of agent.spaces) with injected noise, from the init carry.
    training=True as inside train (retnorm/valnorm/advnorm are updated; their new values are returned).
    Returns dict: 'loss' (scalar total), 'losses/<key>' (B, T) per term, 'metrics/<name>', 'state/<key>' for
    the non-parameter state after the call (retnorm lo/hi), plus 'repfeat/*' and 'tokens'; and the stream."""
    m = obj.model
    data = _split_batch(obj, batch)
    B = batch["is_first"].shape[0]

    def fn():
        carry = m.init_train(B)
        carry, obs, prevact, stepid = m._apply_replay_context(carry, data)
        loss, (carry, entries, outs, mets) = m.loss(carry, obs, prevact, training=training)
        return loss, outs, mets

    new, (loss, outs, mets), stream = _run(obj, fn, noise_seed=noise_seed)
    res = {"loss": loss, "tokens": outs["tokens"]}
    for k, v in outs["losses"].items():
        res[f"losses/{k}"] = v
    for k, v in outs["repfeat"].items():
        res[f"repfeat/{k}"] = v
    for k, v in mets.items():
        res[f"metrics/{k}"] = v
    for k in new:
        if not is_param(k) and not k.startswith("opt/"):
            res[f"state/{k}"] = new[k]
    res["scales"] = {k: float(v) for k, v in m.scales.items()}
    scales = res.pop("scales")
    out = _np(res)
    out["scales"] = scales
    return out, stream


@contextlib.contextmanager
def _record_opt(obj):
    """Wrap the optax chain of the official Optimizer to record (grads, updates, params) it is given."""
    o = _off()
    opt = obj.model.opt
    orig = opt.opt
    rec = {}

    def update(grads, state, params=None):
        rec["grads"] = grads
        rec["params_before"] = params
        upd, new = orig.update(grads, state, params)
        rec["updates"] = upd
        return upd, new

    opt.opt = o.optax.GradientTransformation(orig.init, update)
    try:
        yield rec
    finally:
        opt.opt = orig


def train_step(obj, batch, noise_seed=None, carry=None):
    """One official Agent.train on batch (the real optimizer: AGC 0.3, LaProp via scale_by_rms + momentum,
    eps 1e-20, lr warm-up 1000 from 0) with injected noise; the agent's state is updated in place.
    noise_seed None: run the official jitted path (obj.agent.train, official jax sampling).
    Returns dict with 'params/<k>' (all state after), 'grads/<k>', 'updates/<k>' (when noise_seed given),
    'metrics/<k>', and the stream."""
    o = _off()
    m = obj.model
    B = batch["is_first"].shape[0]
    if noise_seed is None:
        a = obj.agent
        c = carry if carry is not None else a.init_train(B)
        data = {k: o.jnp.asarray(v) for k, v in batch.items()}
        data["seed"] = a._seeds(int(a.n_batches), a.train_mirrored)
        a.n_batches.increment()
        with _dtype(obj):
            c, outs, mets = a.train(c, data)
        a.jaxcfg.enable_policy and a.pending_sync and _apply_pending(a)
        res = {f"params/{k}": v for k, v in params(obj).items()}
        return res, None
    data = _split_batch(obj, batch)

    def fn():
        c = m.init_train(B) if carry is None else carry
        return m.train(c, data)

    with _record_opt(obj) as rec:
        new, (c, outs, mets), stream = _run(obj, fn, noise_seed=noise_seed, keep_state=True)
    obj.agent.n_updates.increment()
    obj.agent.n_batches.increment()
    res = {f"params/{k}": v for k, v in params(obj).items()}
    for k, v in _np(rec["grads"]).items():
        res[f"grads/{k}"] = v
    for k, v in _np(rec["updates"]).items():
        res[f"updates/{k}"] = v
    for k, v in _np(mets).items():
        res[f"metrics/{k}"] = v
    return res, stream


def _apply_pending(a):
    a.policy_params = a.pending_sync
    a.pending_sync = None


def gradients(obj, batch, noise_seed):
    """Gradients of the official total loss w.r.t. the optimizer's modules (nj.grad like Optimizer does)
    with injected noise, without changing the state. Returns (loss, grads dict, stream)."""
    o = _off()
    m = obj.model
    data = _split_batch(obj, batch)
    B = batch["is_first"].shape[0]

    def fn():
        carry = m.init_train(B)
        carry, obs, prevact, _ = m._apply_replay_context(carry, data)

        def lossfn(c, ob, pa):
            return m.loss(c, ob, pa, training=True)[0]

        loss, _, grads = o.nj.grad(lossfn, m.modules)(carry, obs, prevact)
        return loss, grads

    _, (loss, grads), stream = _run(obj, fn, noise_seed=noise_seed)
    return float(loss), _np(grads), stream


def grad_reach(obj, batch, noise_seed, keys=None):
    """For each loss term: the global gradient norm of its mean w.r.t. each top-level module (dyn, enc, dec, rew,
    con, pol, val), with injected noise. Shows which losses reach which modules (stop-gradients)."""
    o = _off()
    m = obj.model
    data = _split_batch(obj, batch)
    B = batch["is_first"].shape[0]
    keys = keys or list(m.scales)
    out = {}
    for key in keys:

        def fn(key=key):
            carry = m.init_train(B)
            carry, obs, prevact, _ = m._apply_replay_context(carry, data)

            def lossfn(c, ob, pa):
                return m.loss(c, ob, pa, training=True)[1][2]["losses"][key].mean()

            _, _, grads = o.nj.grad(lossfn, m.modules)(carry, obs, prevact)
            return grads

        _, grads, _ = _run(obj, fn, noise_seed=noise_seed)
        grads = _np(grads)
        norms = {}
        for k, v in grads.items():
            top = k.split("/")[0]
            norms[top] = norms.get(top, 0.0) + float((v.astype(np.float64) ** 2).sum())
        out[key] = {k: math.sqrt(v) for k, v in sorted(norms.items())}
    return out


###############################################################################
# Checkpoints
###############################################################################


def save_checkpoint(obj, folder, step=0, replay_steps=None):
    """Write the checkpoint as embodied/run/train.py does: Checkpoint(<folder>/ckpt) with step (elements.Counter),
    agent (the official Agent.save: {'params': state, 'counters': ...}) and replay (embodied.replay.Replay with
    directory <folder>/replay; its save() pickles None and writes its chunks as .npz). Also writes
    <folder>/config.yaml as dreamerv3/main.py does. replay_steps: optional dict of (T, ...) arrays added
    to the replay (worker 0) before saving. Returns the checkpoint folder (<folder>/ckpt/<timestamp>)."""
    o = _off()
    E = o.elements
    folder = E.Path(os.fspath(folder))
    folder.mkdir()
    cfg = obj.config.update(logdir=str(folder))
    cfg.save(folder / "config.yaml")
    counter = E.Counter(int(step))
    replay = o.embodied.replay.Replay(
        length=cfg.batch_length + cfg.replay_context,
        capacity=int(cfg.replay.size),
        online=cfg.replay.online,
        chunksize=cfg.replay.chunksize,
        directory=folder / "replay",
        save_wait=True,
    )
    if replay_steps:
        T = len(next(iter(replay_steps.values())))
        for t in range(T):
            replay.add({k: np.asarray(v[t]) for k, v in replay_steps.items()}, 0)
    cp = E.Checkpoint(folder / "ckpt")
    cp.step = counter
    cp.agent = obj.agent
    cp.replay = replay
    with _quiet(True):
        cp.save()
    latest = cp.latest()
    replay.workers.shutdown(wait=True)
    return str(latest)


def load_checkpoint(obj, path):
    """Load a checkpoint folder (<run>/ckpt/<stamp> or <run>/ckpt) into the agent with the official loader."""
    o = _off()
    E = o.elements
    path = E.Path(os.fspath(path))
    if (path / "latest").exists():
        path = path / (path / "latest").read_text().strip("\n")
    with _quiet(True):
        E.checkpoint.load(path, dict(agent=obj.agent.load))
    return str(path)


def pickle_globals(filename):
    """Sorted list of 'module.name' that GLOBAL / STACK_GLOBAL opcodes reference in a pickle file (STACK_GLOBAL's
    module and name are the two string pushes before it, directly or through the memo)."""
    with open(filename, "rb") as f:
        data = f.read()
    found = set()
    memo = {}
    pushed = []  # recent pushes (strings, or None for anything else)
    strops = ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING")
    for op, arg, pos in pickletools.genops(data):
        name = op.name
        if name in strops:
            pushed.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif name == "GLOBAL":
            found.add(arg.replace(" ", "."))
            pushed.append(None)
        elif name == "STACK_GLOBAL":
            mod, qual = pushed[-2], pushed[-1]
            assert isinstance(mod, str) and isinstance(qual, str), (pos, mod, qual)
            found.add(f"{mod}.{qual}")
            pushed.append(None)
        else:
            pushed.append(None)
    return sorted(found)


def pickle_opcodes(filename):
    """Set of opcode names used in a pickle file."""
    with open(filename, "rb") as f:
        data = f.read()
    return sorted({op.name for op, _, _ in pickletools.genops(data)})


###############################################################################
# Golden files
###############################################################################


def _flatten_inputs(prefix, d, out):
    for k, v in d.items():
        out[f"{prefix}{k}"] = np.asarray(v)


def write_golden(
    folder, kinds=("img-disc", "vec-cont"), seed=0, noise_seed=1, img_size=64, with_loss=True, with_params=False
):
    """For each kind (float32): <folder>/<kind>/run/ (the official checkpoint folder, as save_checkpoint) and
    <folder>/<kind>/golden.npz with plain arrays: 'in/<name>' inputs, 'noise_seed', 'noise/values' (the
    draws, flat, in order), 'noise/sizes', 'out/<name>' the outputs() results, with_params also 'param/<name>' the
    model parameters (the same values as in the checkpoint's agent.pkl); with_loss also 'batch/<name>' (example_batch),
    'loss_noise_seed' (= noise_seed + 1) and 'loss/<name>' the loss_terms() results on that batch."""
    written = {}
    for kind in kinds:
        obj = build(kind, "float32", seed=seed, img_size=img_size)
        inputs = example_inputs(obj)
        res, stream = outputs(obj, inputs, noise_seed)
        d = os.path.join(os.fspath(folder), kind)
        os.makedirs(d, exist_ok=True)
        ck = save_checkpoint(obj, os.path.join(d, "run"))
        arrays = {}
        _flatten_inputs("in/", inputs, arrays)
        arrays["noise_seed"] = np.int64(noise_seed)
        arrays["noise/values"] = stream.flat()
        arrays["noise/sizes"] = np.array([np.size(v) for v in stream.values], np.int64)
        arrays["noise/kinds"] = np.array([s for s, _, _ in stream.log])
        arrays["noise/callers"] = np.array([c for _, c, _ in stream.log])
        for k, v in res.items():
            arrays[f"out/{k}"] = v
        if with_params:
            for k, v in params(obj, "model").items():
                arrays[f"param/{k}"] = v
        if with_loss:
            batch = example_batch(obj)
            lt, lstream = loss_terms(obj, batch, noise_seed + 1)
            _flatten_inputs("batch/", batch, arrays)
            arrays["loss_noise_seed"] = np.int64(noise_seed + 1)
            arrays["loss_noise/values"] = lstream.flat()
            arrays["loss_noise/sizes"] = np.array([np.size(v) for v in lstream.values], np.int64)
            arrays["loss_noise/kinds"] = np.array([s for s, _, _ in lstream.log])
            arrays["loss_noise/callers"] = np.array([c for _, c, _ in lstream.log])
            for k, v in lt.items():
                if k != "scales":
                    arrays[f"loss/{k}"] = np.asarray(v)
        np.savez(os.path.join(d, "golden.npz"), **arrays)
        written[kind] = (ck, os.path.join(d, "golden.npz"))
    return written


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", required=True, help="checkout of danijar/dreamerv3 (holds dreamerv3/, embodied/)")
    p.add_argument("--write-golden", metavar="DIR", help="write golden checkpoints + npz for img-disc and vec-cont")
    p.add_argument("--checkpoints", metavar="DIR", help="write official checkpoints after 2 train steps per kind")
    p.add_argument("--smoke", action="store_true", help="build each kind and run outputs/loss_terms/train_step")
    args = p.parse_args(argv)
    load_official(args.official)
    if args.write_golden:
        for kind, (ck, npz) in write_golden(args.write_golden).items():
            print(kind, ck, npz)
    if args.checkpoints:
        for kind in ("vec-cont", "img-disc", "img-disc-strided"):
            obj = build(kind)
            batch = example_batch(obj)
            for _ in range(2):
                train_step(obj, batch)
            steps = {k: batch[k][0] for k in list(obj.obs_space) + list(obj.act_space)}
            ck = save_checkpoint(
                obj, os.path.join(args.checkpoints, kind), step=2 * batch["is_first"].size, replay_steps=steps
            )
            print(kind, ck, pickle_globals(os.path.join(ck, "agent.pkl")))
    if args.smoke:
        for kind in KINDS:
            t0 = time.time()
            obj = build(kind)
            res, st = outputs(obj, example_inputs(obj), 1)
            lt, _ = loss_terms(obj, example_batch(obj), 2)
            tr, _ = train_step(obj, example_batch(obj), 2)
            print(
                f"{kind}: {len(res)} outputs, {len(st.log)} draws, loss {float(lt['loss']):.4f}, "
                f"grad_norm {float(tr['metrics/opt/grad_norm']):.4f}, {time.time() - t0:.0f}s"
            )


if __name__ == "__main__":
    main()
