"""MLP fits (two hidden layers of 64, same epochs, same batch size, Adam) on a seeded 200k × 50 binary problem:
fieldguide vs scikit-learn's ``MLPClassifier`` vs PyTorch (skipped with a message when absent), on the CPU unless
``--torch-device cuda`` puts PyTorch's network and data on the GPU, where JAX puts fieldguide's by itself.

Accuracy on a held-out 20% is reported next to the times, so the speed-up is read at equal accuracy. As in
``bench_glm.py``, "first" is a fresh process with fieldguide's persistent compilation cache filled by an earlier
run and "cold" one compiling from scratch (the same for the other libraries, which keep nothing between runs).

    python benchmarks/bench_mlp.py [--rows 200000] [--epochs 5] [--devices all] [--torch-device cpu]

``--devices`` (an integer or ``all``) trains fieldguide data parallel over that many of JAX's devices (GPUs).
On a GPU, "device peak/X" is the first fit's peak in JAX's (or PyTorch's) allocator, and "cold device peak/X"
fieldguide's in the process compiling from scratch (``probe_device_memory.py`` shows where it goes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import best_time, devices_arg, fresh_process, glm_data, measure_once, table

HIDDEN, BATCH, LR, ALPHA = (64, 64), 256, 1e-3, 1e-4
SAME = {"alpha": ALPHA, "batch_size": BATCH, "learning_rate_init": LR, "random_state": 0}  # both libraries


def split(rows: int):
    X, y = glm_data("logistic", n=rows)
    cut = int(0.8 * rows)
    return X[:cut], y[:cut], X[cut:], y[cut:]


def fieldguide_fit(X, y, epochs, devices=None):
    from fieldguide import models

    est = models.MLPClassifier(HIDDEN, **SAME, max_iter=epochs, devices=devices)
    return est.fit(X, y)


def sklearn_fit(X, y, epochs, devices=None):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    est = MLPClassifier(HIDDEN, **SAME, max_iter=epochs, n_iter_no_change=epochs + 1, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


class TorchMLP:
    """The same network and training loop in PyTorch: Adam, minibatches by permuted indices, L2 as scikit-learn."""

    def __init__(self, device: str = "cpu"):
        self.device = device

    def fit(self, X, y, epochs):
        import torch

        torch.manual_seed(0)
        Xt, yt = torch.from_numpy(X).to(self.device), torch.from_numpy(y.astype(np.float32)).to(self.device)
        layers, width = [], X.shape[1]
        for h in HIDDEN:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)).to(self.device)
        weights = [p for name, p in self.net.named_parameters() if name.endswith("weight")]
        opt = torch.optim.Adam(self.net.parameters(), lr=LR)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(epochs):
            for idx in torch.randperm(len(yt), device=self.device).split(BATCH):
                opt.zero_grad()
                loss = loss_fn(self.net(Xt[idx])[:, 0], yt[idx])
                loss = loss + ALPHA / (2 * len(idx)) * sum((w**2).sum() for w in weights)
                loss.backward()
                opt.step()
        if self.device != "cpu":
            torch.cuda.synchronize()  # the time of the work, not of queueing it
        return self

    def score(self, X, y):
        import torch

        with torch.no_grad():
            logits = self.net(torch.from_numpy(X).to(self.device))[:, 0]
            return float(((logits > 0).cpu().numpy() == y).mean())


TORCH_DEVICE = "cpu"  # --torch-device


def torch_fit(X, y, epochs, devices=None):
    return TorchMLP(TORCH_DEVICE).fit(X, y, epochs)


FITS = {"sklearn": sklearn_fit, "fieldguide": fieldguide_fit, "pytorch": torch_fit}
MODULES = {"sklearn": "sklearn.neural_network", "fieldguide": "fieldguide.models", "pytorch": "torch"}


def child(library: str, rows: int, epochs: int, devices) -> None:
    """Fresh process: one fit, its library imported beforehand (imports are not the fit's time); prints JSON."""
    X, y, _, _ = split(rows)
    importlib.import_module(MODULES[library])
    print(json.dumps(measure_once(lambda: FITS[library](X, y, epochs, devices), X.nbytes)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--devices", type=devices_arg, help="fieldguide's devices: an integer or 'all'")
    parser.add_argument("--torch-device", default="cpu", help="where PyTorch trains: cpu or cuda")
    parser.add_argument("--child", metavar="LIBRARY")
    args = parser.parse_args()
    global TORCH_DEVICE
    TORCH_DEVICE = args.torch_device
    if args.child:
        return child(args.child, args.rows, args.epochs, args.devices)
    libraries = ["sklearn", "fieldguide"]
    try:
        import torch

        libraries.append("pytorch")
        print(
            f"PyTorch {torch.__version__} on {args.torch_device}, {torch.get_num_threads()} threads",
            file=sys.stderr,
        )
    except ImportError:
        print("PyTorch not installed: skipping it (pip install torch==2.13.0 to include it)", file=sys.stderr)
    X, y, X_test, y_test = split(args.rows)
    rows = []
    for library in libraries:
        script = ["bench_mlp.py", "--rows", str(args.rows), "--epochs", str(args.epochs), "--child", library]
        script += ["--torch-device", args.torch_device]
        script += ["--devices", str(args.devices)] if args.devices else []
        cold = None
        if library == "fieldguide":  # the others keep no compiled code between processes
            cold = fresh_process(*script, env={"FIELDGUIDE_JAX_CACHE": "0"})  # compiling from scratch
            fresh_process(*script)  # fills the persistent compilation cache (a user's earlier run)
        first = fresh_process(*script)
        est = FITS[library](X, y, args.epochs, args.devices)
        warm = best_time(lambda library=library: FITS[library](X, y, args.epochs, args.devices), repeats=1)
        rows.append(
            {
                "library": library,
                "warm s": warm,
                "first s": first["seconds"],
                "cold s": (cold or first)["seconds"],
                "test accuracy": est.score(X_test, y_test),
                "peak/X": first["peak_over_x"],
                "warm peak/X": first["warm_peak_over_x"],
            }
        )
        if "device_peak_over_x" in first:  # a GPU's own peak (JAX's or PyTorch's allocator)
            rows[-1]["device peak/X"] = first["device_peak_over_x"]
        if cold and "device_peak_over_x" in cold:  # compiling from scratch: what compiling takes, too
            rows[-1]["cold device peak/X"] = cold["device_peak_over_x"]
        print(f"done: {library}", file=sys.stderr)
    ours = next(r for r in rows if r["library"] == "fieldguide")
    for row in rows:
        row["fieldguide × (warm)"] = row["warm s"] / ours["warm s"]
        row["fieldguide × (first)"] = row["first s"] / ours["first s"]
        row["fieldguide × (cold)"] = row["cold s"] / ours["cold s"]
    print(f"{args.rows} rows × 50, {args.epochs} epochs, batch {BATCH}, hidden {HIDDEN}")
    print(
        table(
            rows,
            [
                "library",
                "warm s",
                "first s",
                "fieldguide × (warm)",
                "fieldguide × (first)",
                "cold s",
                "fieldguide × (cold)",
                "test accuracy",
                "peak/X",
                "warm peak/X",
                *(c for c in ("device peak/X", "cold device peak/X") if any(c in row for row in rows)),
            ],
        )
    )


if __name__ == "__main__":
    main()
