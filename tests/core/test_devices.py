"""Data-parallel training over several devices: the single-device solution, and no device gathers X.

The devices are this machine's CPU split in four (``--xla_force_host_platform_device_count``), a flag read when JAX
starts, so the sharded fits run in a fresh process; XLA dumps the programs it compiles there, to be read here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fieldguide.core import Learner, models, objectives
from fieldguide.models import LogisticRegression, MLPClassifier

pytestmark = pytest.mark.xdist_group("devices")  # one worker runs the module's fits once

SCRIPT = r"""
import json
import jax, numpy as np, optax, scipy.sparse
from fieldguide.core import Learner, models, objectives, penalties
from fieldguide.models import LogisticRegression, MLPClassifier

rng = np.random.default_rng(0)
n, d = 41_000, 16  # over 4 x 8,192 rows: Newton's blocked products scan within each device's rows
X = rng.normal(size=(n, d))
eta = 0.8 * X[:, 0] - 0.5 * X[:, 1]
X[:, 2] = 50 + 20 * X[:, 2]  # a raw-scale column: the solvers' standardised coordinates take part too
binary = (eta + rng.logistic(size=n) > 0).astype(int)
counts = rng.poisson(np.exp(0.3 * eta)).astype(float)
cases = {
    "lbfgs": (objectives.LogLoss() + penalties.L2(1e-3), "lbfgs", binary),
    "newton": (objectives.Poisson() + penalties.L2(1e-3), "newton", counts),
    "fista": (objectives.LogLoss() + penalties.L1(1e-2), "proximal", binary),
    "interior_point": (objectives.Pinball(0.7) + penalties.L1(1e-3), "interior_point", eta + rng.normal(size=n)),
}
out = {}
for name, (objective, optimizer, y) in cases.items():
    for devices in (None, 4, 3) if name == "lbfgs" else (None, 4):  # 3: devices holding unequal real rows
        learner = Learner(models.Linear(), objective, optimizer, dtype="float64", tol=1e-10, verbose=False,
                          devices=devices)
        fitted = learner.fit(X, y)
        out[f"{name}/{devices}"] = {
            "coef": np.asarray(fitted.params["coef"]).ravel().tolist(),
            "objective": fitted.objective_value(X, y),
            "converged": fitted.history["converged"],
            "where": sorted(device.id for device in fitted.params["coef"].devices()),
        }
for devices in (None, 4, 4, 3):
    learner = Learner(models.MLP(hidden=(16,)), objectives.LogLoss() + penalties.L2(1e-4), optax.adam(1e-2),
                      verbose=False, devices=devices)
    fitted = learner.fit(X[:, :2], binary, epochs=8, batch_size=250, validation_fraction=0.1, patience=3)
    out.setdefault(f"mlp/{devices}", []).append({
        "accuracy": float(((fitted.predict(X[:, :2]) > 0.5) == binary).mean()),
        "params": np.concatenate([np.ravel(p) for p in jax.tree.leaves(fitted.params)]).tolist(),
    })
X_sparse = scipy.sparse.csr_matrix(np.where(rng.random(X.shape) < 0.3, X, 0.0))
for devices in (None, 4):  # sparse rows are split by row as dense ones are
    fitted = Learner(models.Linear(), objectives.LogLoss() + penalties.L2(1e-3), dtype="float64", tol=1e-10,
                     verbose=False, devices=devices).fit(X_sparse, binary)
    out[f"sparse-lbfgs/{devices}"] = {"coef": np.asarray(fitted.params["coef"]).ravel().tolist(),
                                      "objective": fitted.objective_value(X_sparse, binary)}
    fitted = Learner(models.FactorizationMachine(rank=2), objectives.LogLoss(), optax.adam(1e-2), verbose=False,
                     devices=devices).fit(X_sparse, binary, epochs=3, batch_size=500)
    out[f"sparse-fm/{devices}"] = float(((fitted.predict(X_sparse) > 0.5) == binary).mean())
for devices in (None, 4):
    out[f"zoo-logistic/{devices}"] = LogisticRegression(dtype="float64", tol=1e-10, devices=devices).fit(
        X, binary).coef_.ravel().tolist()
    out[f"zoo-mlp/{devices}"] = MLPClassifier((8,), max_iter=5, random_state=0, devices=devices).fit(
        X[:5000, :2], binary[:5000]).score(X[:5000, :2], binary[:5000])
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def sharded(tmp_path_factory):
    """The fits of ``SCRIPT`` and the largest all-gather (in elements) in each compiled loop of theirs.

    Kept for the session: the worker running this module's group may run other modules' tests in between, which
    would end a module's fixture and run the script (about a minute) again."""
    dump = tmp_path_factory.mktemp("hlo")
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count=4 --xla_dump_to={dump} --xla_dump_hlo_as_text",
        "JAX_PLATFORMS": "cpu",  # the CPU split in four, on a machine with a GPU too
        "FIELDGUIDE_JAX_CACHE": "0",  # compile in this process, so that XLA dumps every loop
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    gathered: dict[str, int] = {}
    for path in dump.glob("*after_optimizations.txt"):
        loop = re.search(r"jit_(\w+?_run)", path.name)
        if loop is None:
            continue
        sizes = [
            np.prod([int(s) for s in shape.split(",") if s] or [1])
            for shape in re.findall(r"= \w+\[([\d,]*)\][^ ]* all-gather\(", path.read_text())
        ]
        gathered[loop.group(1)] = max(gathered.get(loop.group(1), 0), *sizes, 0)
    return json.loads(done.stdout.splitlines()[-1]), gathered


@pytest.mark.parametrize("solver", ["lbfgs", "newton", "fista", "interior_point"])
def test_full_batch_solvers_reach_the_single_device_solution_on_several(sharded, solver):
    fits, _ = sharded
    one = fits[f"{solver}/None"]
    assert one["converged"] and one["where"] == [0]
    for devices in (4, 3) if solver == "lbfgs" else (4,):  # three leave a device with fewer real rows
        many = fits[f"{solver}/{devices}"]
        assert many["converged"]
        assert many["objective"] == pytest.approx(one["objective"], rel=1e-10)
        np.testing.assert_allclose(many["coef"], one["coef"], rtol=1e-6, atol=1e-8)
        assert many["where"] == [0]  # the fitted parameters come back to the default device


def test_no_device_gathers_the_training_data(sharded):
    _, gathered = sharded
    assert set(gathered) == {"lbfgs_run", "newton_run", "fista_run", "interior_run", "optax_run"}
    # one device's part of X is at least 41,000 / 4 rows x 16 columns; the interior point gathers its per-row
    # dual vectors (one number per row), every other loop nothing larger than the parameters
    assert gathered["interior_run"] < 41_000 * 16 / 4
    assert all(size < 1_000 for loop, size in gathered.items() if loop != "interior_run"), gathered


def test_minibatch_training_on_several_devices_learns_as_well_and_repeats_exactly(sharded):
    fits, _ = sharded
    (one,), (four, again), (three,) = fits["mlp/None"], fits["mlp/4"], fits["mlp/3"]
    assert one["accuracy"] > 0.65  # the Bayes rate of this data is about 0.67
    assert abs(four["accuracy"] - one["accuracy"]) < 0.02 and abs(three["accuracy"] - one["accuracy"]) < 0.02
    assert four["params"] == again["params"]  # each device's shuffle is seeded
    assert four["params"] != one["params"]  # batches are drawn per device: another, equally random path


def test_sparse_rows_train_on_several_devices(sharded):
    fits, _ = sharded
    one, four = fits["sparse-lbfgs/None"], fits["sparse-lbfgs/4"]
    assert four["objective"] == pytest.approx(one["objective"], rel=1e-10)
    np.testing.assert_allclose(four["coef"], one["coef"], rtol=1e-6, atol=1e-8)
    # with 70 % of X zeroed, a linear model's optimum reaches about 0.57 on this data; the classes are balanced
    assert fits["sparse-fm/None"] > 0.55 and abs(fits["sparse-fm/4"] - fits["sparse-fm/None"]) < 0.02


def test_zoo_estimators_take_devices(sharded):
    fits, _ = sharded
    np.testing.assert_allclose(fits["zoo-logistic/4"], fits["zoo-logistic/None"], rtol=1e-6)
    assert abs(fits["zoo-mlp/4"] - fits["zoo-mlp/None"]) < 0.05


def test_devices_are_checked_when_the_learner_is_built():
    import jax

    parts = (models.Linear(), objectives.LogLoss())
    count = len(jax.devices())
    with pytest.raises(
        ValueError, match=f"devices={count + 1} asks for more devices than JAX has \\({count}"
    ):
        Learner(*parts, devices=count + 1)
    for bad in (0, True, "gpu", [], ["cpu"], 2.0):
        with pytest.raises(ValueError, match="devices must be"):
            Learner(*parts, devices=bad)
    with pytest.raises(ValueError, match="lists a device twice"):
        Learner(*parts, devices=[jax.devices()[0]] * 2)
    X = np.random.default_rng(0).normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    one = Learner(*parts, verbose=False, devices=[jax.devices()[0]]).fit(X, y)
    default = Learner(*parts, verbose=False).fit(X, y)
    np.testing.assert_array_equal(one.params["coef"], default.params["coef"])
    assert hash(Learner(*parts, devices=[jax.devices()[0]])) == hash(
        Learner(*parts, devices=(jax.devices()[0],))
    )
    with pytest.raises(ValueError, match="devices must be None, an integer >= 1 or 'all', got 0"):
        LogisticRegression(devices=0).fit(X, y)
    with pytest.raises(ValueError, match="asks for more devices"):
        MLPClassifier(devices=count + 1).fit(X, y)
