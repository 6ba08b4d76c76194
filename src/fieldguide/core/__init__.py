"""The three elements of every learning program, and the one jitted trainer that runs them.

A *model* (``models``: ``init``/``apply`` pure functions over a PyTree of params), an *objective* (``objectives``:
a weighted-mean loss on the outputs, plus ``penalties`` on the weights, plus a link) and an *optimizer* (any Optax
``GradientTransformation``, or ``"lbfgs"``/``"newton"``/``"proximal"``/``"interior_point"`` for full-batch
solvers). ``Learner.fit`` minimises
``loss + Σ penalties`` and returns a ``Fitted`` with ``params``, ``history`` and ``predict``.

Design notes (the non-obvious parts):

- **What is minimised**: ``Σ w·l(row) / Σ w + Σ penalties``, with scikit-learn's per-row losses (half squared
  error, half deviances) and penalty conventions (``L2(a) = a/2·||w||²``, ``L1(a) = a·||w||₁``). Estimators
  rescale their alpha/C onto this.
- **Solvers**: ``"lbfgs"`` is ``optax.lbfgs`` (zoom linesearch) in a ``lax.while_loop``; ``"newton"`` (one-output
  ``Linear`` models) forms ``X^T diag(l'') X`` over row blocks, steps with its pseudo-inverse and backtracks along
  ``eta + t·X@step`` (no pass over X per trial), so badly scaled features cost it nothing; an objective with an L1
  part (or ``"proximal"``) uses FISTA with backtracking and restarts, so zeros are exact. Optax optimizers run
  minibatch epochs, each one ``lax.scan`` over shuffled row indices inside a ``while_loop`` over epochs that
  carries the early-stopping state; with L1 they take the OWL-QN pseudo-gradient and an orthant projection after
  each update (exact zeros without knowing the optimizer's step size). ``"interior_point"`` solves pinball loss
  plus L1 on a one-output ``Linear`` model, a linear program, to its optimum: a primal-dual method on the dual
  with Mehrotra's predictor-corrector, each step one ``X^T Θ X`` over row blocks and a d×d Cholesky solve.
- **Compiled once per configuration and row bucket**: the loops are module-level ``jax.jit`` functions keyed by
  (model, objective without penalties, optimizer, a few static settings); rows are padded with zero weight up to a
  bucket (64 to 1,024 rows by powers of two, then steps of a quarter of a power of two, past 8,192 rows of an
  eighth; a full-batch fit, whose passes over a small table take microseconds, at least 1,024), and a minibatch
  that would hold every row is the whole bucket; on a small dense table (up to 4,096 padded rows) the L-BFGS,
  FISTA and Optax fits of the built-in models pad its columns with zeros too, to 8, 16, 32 or 64, then multiples
  of 64 (zero columns get zero weights, which stay zero: the fit is the unpadded one; an Optax state comes back
  cut to X's columns and is padded again when a fit continues it); penalty strengths, ``tol`` and ``max_iter``
  are dynamic. Optax optimizers are keyed by object identity: reuse the object or build it with
  ``optax_optimizer(name, **hyperparams)``, which returns one shared object per configuration.
- **float64** runs inside ``jax.enable_x64`` scopes (JAX 0.10 has the scoped context), so float32 users are
  never affected and nothing is switched on globally. In the same scope (``_learner.numerics``) matrix products
  run at ``"highest"`` precision: float32 is float32 on a GPU too, not TF32.
- **Persistent compilation cache**: on first fit, JAX's cache goes to ``fieldguide._config.cache_dir() / "jax"``
  unless one is already configured (``FIELDGUIDE_CACHE`` moves ``cache_dir()``); ``FIELDGUIDE_JAX_CACHE=0``
  turns this off.
- **Several devices** (``Learner(..., devices=k)``): data parallel in XLA's SPMD partitioner. The rows are
  staged as ``k`` equal parts, each led by its share of the real rows, and placed one part per device; parameters
  and optimizer state are replicated, and every reduction over rows becomes a local sum plus an all-reduce. What
  would make XLA gather X is kept out of the loops: Newton's and the interior point's blocked products scan the
  blocks of every device's part in step, and minibatches gather rows within each device's part (each part has
  its own shuffle). The interior point's per-row dual vectors (one number per row) are gathered, X never.
- **Sparse X**: a SciPy sparse matrix is staged as ``sparse.SparseRows``, each row's non-zeros in a fixed number
  of (column, value) slots (a long row's rest in an overflow block), so rows are padded, gathered into minibatches
  and split across devices as dense rows are, in the same loops; ``X @ W`` gathers W's rows (its gradient is a
  scatter-add), O(non-zeros) per pass.
  Newton and the interior point form ``X^T D X`` from a dense X and refuse a sparse one.
- **Memory maps**: every XLA:CPU executable holds memory mappings; a process that compiles thousands of shapes
  would reach Linux's ``vm.max_map_count`` and abort, so the trainer clears JAX's caches past half of it.

Example:
    >>> import numpy as np
    >>> from fieldguide.core import Learner, models, objectives, penalties
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = (X @ [1.0, -2.0, 0.0, 0.5, 0.0] + rng.normal(size=200) > 0).astype(int)
    >>> fitted = Learner(models.Linear(), objectives.LogLoss() + penalties.L2(1e-3), verbose=False).fit(X, y)
    >>> fitted.history["converged"], fitted.predict(X[:2]).shape
    (True, (2,))
"""

from fieldguide.core import models, objectives, penalties
from fieldguide.core._learner import Fitted, Learner, bucket, optax_optimizer

__all__ = ["Fitted", "Learner", "bucket", "models", "objectives", "optax_optimizer", "penalties"]
