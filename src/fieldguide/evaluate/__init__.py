"""Holdout evaluation and the champion/challenger gate that CI runs before a model replaces another.

- ``evaluate(pipeline, holdout)`` -> ``Evaluation``: metrics with seeded bootstrap intervals, per-slice metrics,
  calibration (reliability curve, ECE, Brier) and fairness gaps on a sensitive attribute.
- ``gate(challenger, champion)`` -> ``GateVerdict``: explicit thresholds on the same rows, rule by rule.
- ``run_gate(name, version, holdout)``: both of the above on registered versions, the verdict recorded in the
  registry; ``promote(name, version)`` moves the ``champion`` alias only for a version that passed.

>>> from fieldguide.data.synthetic import customers
>>> from fieldguide.models.adapters import GaussianNB
>>> from fieldguide.pipeline import Pipeline
>>> pipe = Pipeline.fit(customers(400), target="churn", model=GaussianNB())
>>> gate(evaluate(pipe, customers(300, seed=1), resamples=100), None).verdict
'PASS'
"""

from fieldguide._lazy import exports

# Public names load on first use, so `fieldguide --help` does not import this capability.
__getattr__, __dir__ = exports(
    __name__,
    {
        "Evaluation": "_evaluate",
        "Fairness": "_evaluate",
        "SliceResult": "_evaluate",
        "evaluate": "_evaluate",
        "GateRun": "_gate",
        "GateVerdict": "_gate",
        "PromotionRefused": "_gate",
        "Rule": "_gate",
        "gate": "_gate",
        "promote": "_gate",
        "run_gate": "_gate",
        "METRICS": "_metrics",
        "Calibration": "_metrics",
        "Estimate": "_metrics",
        "report_html": "_render",
        "report_json": "_render",
    },
)

__all__ = [
    "METRICS",
    "Calibration",
    "Estimate",
    "Evaluation",
    "Fairness",
    "GateRun",
    "GateVerdict",
    "PromotionRefused",
    "Rule",
    "SliceResult",
    "evaluate",
    "gate",
    "promote",
    "report_html",
    "report_json",
    "run_gate",
]
