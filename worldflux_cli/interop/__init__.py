"""Official checkpoints in and out (imports torch): TD-MPC2 ``.pt`` files (``tdmpc2``, read with ``safe_load``) and
DreamerV3 run folders (``dreamerv3``, key map in ``dreamerv3_keys``, pickles read with ``safe_pickle``).

Every key of a file is accounted for: a key that is unknown, missing or of the wrong shape is an error
that lists them all; nothing is skipped silently.
"""
