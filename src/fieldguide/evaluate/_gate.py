"""The champion/challenger gate: explicit thresholds on the same rows, a verdict CI can read, and promotion."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fieldguide.errors import DataError, FieldguideError
from fieldguide.evaluate._evaluate import DEFAULT_METRIC, Evaluation, evaluate_frame, load_table
from fieldguide.evaluate._metrics import GAPS, METRICS, TASK_METRICS, Estimate

CHAMPION = "champion"
_TOLERANCE = 1e-12  # a delta equal to its threshold passes, whatever the rounding


class PromotionRefused(FieldguideError):
    """``promote`` refused a version that did not pass the gate against the current champion."""

    exit_code = 1


@dataclass(frozen=True)
class Rule:
    """One check of the gate. ``delta``: challenger minus champion; the rule passes when the delta in the bad
    direction (a drop of a score, a rise of a loss or of a fairness gap) is at most ``threshold``. ``interval``:
    the paired bootstrap interval of ``delta``. Without a champion, ``passed`` is ``True``."""

    name: str
    champion: float | None
    challenger: float | None
    delta: float | None
    interval: tuple[float, float] | None
    threshold: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"interval": None if self.interval is None else list(self.interval)}


@dataclass(frozen=True)
class GateVerdict:
    """The gate's decision with its evidence: every rule, the thresholds and notes (e.g. no champion yet)."""

    passed: bool
    metric: str
    challenger: str
    champion: str | None
    rules: list[Rule]
    thresholds: dict[str, float]
    notes: list[str] = field(default_factory=list)
    evidence: str = "point"

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    @property
    def failed(self) -> list[Rule]:
        return [rule for rule in self.rules if not rule.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "metric": self.metric,
            "challenger": self.challenger,
            "champion": self.champion,
            "thresholds": self.thresholds,
            "evidence": self.evidence,
            "rules": [rule.to_dict() for rule in self.rules],
            "notes": self.notes,
        }


def gate(
    challenger: Evaluation,
    champion: Evaluation | None,
    *,
    metric: str | None = None,
    max_drop: float = 0.01,
    max_slice_drop: float = 0.05,
    max_fairness_increase: float = 0.02,
    evidence: str = "point",
) -> GateVerdict:
    """Decide whether ``challenger`` may replace ``champion``, both evaluated on the same holdout rows.

    Rules (deltas in the metric's units; "worse" means lower for scores, higher for losses):
    the overall ``metric`` (default ROC AUC, log loss or RMSE by task; accuracy for a classifier without
    probabilities) may not get worse by more than
    ``max_drop``; on no slice that is not ``small`` (see ``evaluate``'s ``min_slice_rows``) by more than
    ``max_slice_drop``; no fairness gap may grow by more than ``max_fairness_increase``. With ``champion=None``
    (no champion yet) the gate passes on the challenger's own metrics, with a note.

    ``evidence``: ``"point"`` fails a rule when the point estimate of the worsening exceeds its threshold;
    ``"interval"`` only when the whole paired bootstrap interval does (the worsening beyond the threshold is
    significant at the evaluations' confidence). Small slices and groups make point estimates noisy: with
    ``"interval"`` a rule that fails on the point estimate alone passes, with a note saying so.

    Raises ``DataError`` when the two were not evaluated on the same rows with the same settings, or ``metric``
    is not one both have.

    >>> from fieldguide.data.synthetic import customers
    >>> from fieldguide.evaluate import evaluate
    >>> from fieldguide.models.adapters import DummyClassifier, GaussianNB
    >>> from fieldguide.pipeline import Pipeline
    >>> train, holdout = customers(400), customers(300, seed=1)
    >>> old = evaluate(Pipeline.fit(train, "churn", DummyClassifier()), holdout, resamples=200)
    >>> new = evaluate(Pipeline.fit(train, "churn", GaussianNB()), holdout, resamples=200)
    >>> gate(new, old).verdict, gate(old, new).verdict
    ('PASS', 'FAIL')
    """
    thresholds = {
        "max_drop": max_drop,
        "max_slice_drop": max_slice_drop,
        "max_fairness_increase": max_fairness_increase,
    }
    for name, value in thresholds.items():
        if not value >= 0:
            raise DataError(f"{name}: expected a number ≥ 0, found {value}")
    if evidence not in ("point", "interval"):
        raise DataError(f"evidence: expected 'point' or 'interval', found {evidence!r}")
    notes = []
    if champion is None:
        notes.append("no champion yet: nothing to compare with; passing on the challenger's own metrics")
    else:
        _same_rows(challenger, champion)
    both = [ev for ev in (challenger, champion) if ev is not None]
    if metric is None:  # the task's default, else the first metric both have (a model without probabilities)
        preferred = (DEFAULT_METRIC[challenger.task], *TASK_METRICS[challenger.task])
        metric = next(m for m in preferred if all(m in ev.metrics for ev in both))
    for ev in both:
        if metric not in ev.metrics:
            raise DataError(f"metric {metric!r}: {ev.model} has only {sorted(ev.metrics)}")
    greater = METRICS[metric].greater_is_better
    title = METRICS[metric].title
    tail = 50 * (1 - challenger.settings["confidence"])

    def check(name: str, mine: Estimate, theirs: Estimate | None, greater: bool, threshold: float) -> Rule:
        if theirs is None:
            return Rule(name, None, mine.value, None, None, threshold, True)
        delta = mine.value - theirs.value
        paired = mine.draws - theirs.draws  # same seed, same rows: the same resamples
        paired = paired[np.isfinite(paired)]
        interval = tuple(np.percentile(paired, [tail, 100 - tail]).tolist()) if paired.size else None
        worsening = -delta if greater else delta
        passed = worsening <= threshold + _TOLERANCE
        if not passed and evidence == "interval" and interval is not None:
            least = -interval[1] if greater else interval[0]  # the interval's most favourable worsening
            if least <= threshold + _TOLERANCE:
                passed = True
                notes.append(
                    f"{name}: worse by {worsening:.4g} (threshold {threshold:g}), but the paired interval "
                    f"reaches {least:.4g}: within noise, passed (evidence='interval')"
                )
        return Rule(name, theirs.value, mine.value, delta, interval, threshold, passed)

    theirs = None if champion is None else champion.metrics[metric]
    rules = [check(f"overall {title}", challenger.metrics[metric], theirs, greater, max_drop)]

    champion_slices = {} if champion is None else {(s.column, s.value): s for s in champion.slices}
    for part in challenger.slices:
        if part.small:
            continue
        mine = part.metrics[metric]
        theirs = champion_slices.get((part.column, part.value))
        theirs = None if theirs is None else theirs.metrics[metric]
        name = f"slice {part.column}={part.value} (n={part.rows}) {title}"
        if not np.isfinite(mine.value) or (theirs is not None and not np.isfinite(theirs.value)):
            notes.append(f"{name}: undefined on this slice (one class only?); not gated")
            continue
        rules.append(check(name, mine, theirs, greater, max_slice_drop))

    if challenger.fairness is not None and challenger.fairness.gaps:
        their_gaps = {} if champion is None or champion.fairness is None else champion.fairness.gaps
        for gap, gap_title in GAPS.items():
            name = f"fairness {challenger.fairness.column}: {gap_title}"
            mine = challenger.fairness.gaps[gap]
            rules.append(check(name, mine, their_gaps.get(gap), False, max_fairness_increase))

    return GateVerdict(
        passed=all(rule.passed for rule in rules),
        metric=metric,
        challenger=challenger.model,
        champion=None if champion is None else champion.model,
        rules=rules,
        thresholds=thresholds,
        notes=notes,
        evidence=evidence,
    )


def _same_rows(challenger: Evaluation, champion: Evaluation) -> None:
    if (challenger.rows_sha256, challenger.target, challenger.task) != (
        champion.rows_sha256,
        champion.target,
        champion.task,
    ):
        raise DataError(
            f"gate: {challenger.model} and {champion.model} were evaluated on different rows, targets or tasks "
            f"({challenger.rows} vs {champion.rows} rows); evaluate both on the same holdout"
        )
    keys = ("resamples", "seed", "min_slice_rows", "confidence", "slices", "sensitive")
    mine = {k: challenger.settings[k] for k in keys}
    theirs = {k: champion.settings[k] for k in keys}
    if mine != theirs:
        raise DataError(f"gate: evaluation settings differ: challenger {mine}, champion {theirs}")


# -- with the registry -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateRun:
    """What ``run_gate`` did: both evaluations (``champion`` is None without one), the verdict and its event."""

    challenger: Evaluation
    champion: Evaluation | None
    verdict: GateVerdict
    event: Any


def run_gate(
    name: str,
    challenger: int | str,
    data: Any,
    *,
    champion: int | str | None = None,
    target: str | None = None,
    slices: Sequence[str] = (),
    sensitive: str | None = None,
    metric: str | None = None,
    max_drop: float = 0.01,
    max_slice_drop: float = 0.05,
    min_slice_rows: int = 30,
    max_fairness_increase: float = 0.02,
    evidence: str = "point",
    resamples: int = 1000,
    seed: int = 0,
    registry: Any = None,
    progress: bool = False,
) -> GateRun:
    """Evaluate two registered versions of model ``name`` on the holdout ``data`` and gate the challenger.

    champion: a version or alias; default the ``champion`` alias, and no champion at all when it is not set.
    registry: a ``Registry`` or its SQLAlchemy URL (default ``FIELDGUIDE_REGISTRY``).

    The verdict is recorded on the challenger version as a registry event (``kind="gate"``) which
    :func:`promote` reads. Other arguments as in :func:`evaluate` and :func:`gate`.

    >>> run = run_gate("churn", 3, "holdout.parquet", slices=["region"])  # doctest: +SKIP
    >>> run.verdict.verdict                                                # doctest: +SKIP
    'PASS'
    """
    from fieldguide.pipeline import Pipeline

    with _registry(registry) as reg:
        chosen = reg.get(name, challenger)
        if champion is None:
            champion_version = reg.aliases(name).get(CHAMPION)
        else:
            champion_version = reg.get(name, champion).version
        frame, where = load_table(data)
        options = {
            "target": target,
            "slices": slices,
            "sensitive": sensitive,
            "min_slice_rows": min_slice_rows,
            "resamples": resamples,
            "confidence": 0.95,
            "seed": seed,
            "progress": progress,
        }
        versions = [("challenger", chosen.version), ("champion", champion_version)]
        evaluations = {}
        for role, version in versions:
            if version is None:
                evaluations[role] = None
                continue
            pipeline = Pipeline.load(reg.open(name, version))
            label = f"{name} v{version} ({role})"
            evaluations[role] = evaluate_frame(pipeline, frame, where, label=label, **options)
        verdict = gate(
            evaluations["challenger"],
            evaluations["champion"],
            metric=metric,
            max_drop=max_drop,
            max_slice_drop=max_slice_drop,
            max_fairness_increase=max_fairness_increase,
            evidence=evidence,
        )
        detail = verdict.to_dict() | {
            "champion_version": champion_version,
            "data": where,
            "rows": evaluations["challenger"].rows,
            "rows_sha256": evaluations["challenger"].rows_sha256,
        }
        event = reg.record_event(name, chosen.version, kind="gate", detail=detail)
    return GateRun(evaluations["challenger"], evaluations["champion"], verdict, event)


def promote(
    name: str, version: int | str, *, force: bool = False, reason: str | None = None, registry: Any = None
) -> Any:
    """Point model ``name``'s ``champion`` alias at ``version`` if its latest gate passed; returns the event.

    Refused (``PromotionRefused``, exit code 1) when the version was never gated, its latest verdict failed, or
    it was gated against another champion than the current one, unless ``force``; a forced promotion needs a
    ``reason``, and the registry event records both the override and the reason.

    >>> promote("churn", 3)                                                # doctest: +SKIP
    >>> promote("churn", 4, force=True, reason="hotfix for a broken v3")  # doctest: +SKIP
    """
    if force and not (reason and reason.strip()):
        raise FieldguideError(
            "promote: --force needs --reason TEXT; the audit trail records why the gate was overridden"
        )
    with _registry(registry) as reg:
        chosen = reg.get(name, version)
        current = reg.aliases(name).get(CHAMPION)
        gates = [e for e in reg.events(name) if e.kind == "gate" and e.version == chosen.version]
        latest = gates[-1] if gates else None
        problem = _promotion_problem(name, chosen.version, latest, current)
        if problem and not force:
            raise PromotionRefused(f"{problem}; to override, promote with --force --reason TEXT")
        reg.set_alias(name, CHAMPION, chosen.version)
        detail = {
            "previous": current,
            "gate_event": None if latest is None else latest.id,
            "forced": bool(problem),
            "override": problem,
            "reason": reason,
        }
        return reg.record_event(name, chosen.version, kind="promote", detail=detail)


def _promotion_problem(name: str, version: int, latest: Any, current: int | None) -> str | None:
    """Why ``version`` may not become champion without force, or None."""
    if latest is None:
        return (
            f"model {name!r} version {version} was never gated; "
            f"run: fieldguide evaluate {name} --challenger {version} --data HOLDOUT"
        )
    if not latest.detail.get("passed"):
        failed = [rule["name"] for rule in latest.detail.get("rules", []) if not rule["passed"]]
        return (
            f"model {name!r} version {version}: its latest gate verdict (event {latest.id}, "
            f"{latest.created_at:%Y-%m-%d %H:%M} UTC) FAILED on {'; '.join(failed) or 'its rules'}"
        )
    gated_against = latest.detail.get("champion_version")
    if current is not None and current != version and gated_against != current:
        against = (
            "when there was no champion" if gated_against is None else f"against champion {gated_against}"
        )
        return (
            f"model {name!r} version {version} was gated {against}, "
            f"but the champion is now version {current}; gate it again"
        )
    return None


@contextmanager
def _registry(registry: Any) -> Iterator[Any]:
    """A ``Registry`` from an instance (left open) or a URL (closed at the end)."""
    from fieldguide.registry import Registry

    if isinstance(registry, Registry):
        yield registry
        return
    with Registry(registry) as reg:
        yield reg
