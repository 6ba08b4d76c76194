"""Penalties: prior knowledge on the weights, added to an objective with ``+``.

Conventions are scikit-learn's: ``L2(alpha) = alpha/2·||w||²``, ``L1(alpha) = alpha·||w||₁`` and
``ElasticNet(alpha, l1_ratio) = alpha·l1_ratio·||w||₁ + alpha·(1 - l1_ratio)/2·||w||²``. A penalty only sees the
leaves its model marks as penalized (weights, not intercepts or biases). Each penalty splits into a smooth part
(squared norm, differentiated by the trainer) and an L1 strength (handled by a proximal step, which is what makes
exact zeros).

Example:
    >>> from fieldguide.core import penalties
    >>> both = penalties.L2(1e-3) + penalties.L1(1e-2)
    >>> both.l1_strength
    0.01
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

__all__ = ["L1", "L2", "ElasticNet", "Penalties", "Penalty"]


class Penalty:
    """Base of the penalties: a smooth squared-norm part and an L1 strength."""

    l2_strength: float = 0.0
    l1_strength: float = 0.0

    @property
    def terms(self) -> tuple[Penalty, ...]:
        return (self,)

    def __add__(self, other: Penalty) -> Penalties:
        if not isinstance(other, Penalty):
            return NotImplemented
        return Penalties(self.terms + other.terms)

    def __call__(self, params, mask) -> jax.Array:
        """The penalty's value on ``params``; ``mask`` (a PyTree of Python bools) marks the penalized leaves."""
        return 0.5 * self.l2_strength * squared_norm(params, mask) + self.l1_strength * abs_norm(params, mask)


def _check_alpha(alpha: float, name: str) -> None:
    if not alpha >= 0.0:
        raise ValueError(f"{name}: alpha must be a number >= 0, got {alpha!r}")


@dataclasses.dataclass(frozen=True)
class L2(Penalty):
    """Ridge: ``alpha/2 · ||w||²``."""

    alpha: float

    def __post_init__(self):
        _check_alpha(self.alpha, "L2")

    @property
    def l2_strength(self) -> float:
        return float(self.alpha)


@dataclasses.dataclass(frozen=True)
class L1(Penalty):
    """Lasso: ``alpha · ||w||₁`` (exact zeros through the proximal step)."""

    alpha: float

    def __post_init__(self):
        _check_alpha(self.alpha, "L1")

    @property
    def l1_strength(self) -> float:
        return float(self.alpha)


@dataclasses.dataclass(frozen=True)
class ElasticNet(Penalty):
    """``alpha·l1_ratio·||w||₁ + alpha·(1 - l1_ratio)/2·||w||²``, as scikit-learn's ``ElasticNet``."""

    alpha: float
    l1_ratio: float = 0.5

    def __post_init__(self):
        _check_alpha(self.alpha, "ElasticNet")
        if not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(f"ElasticNet: l1_ratio must be in [0, 1], got {self.l1_ratio!r}")

    @property
    def l2_strength(self) -> float:
        return float(self.alpha * (1.0 - self.l1_ratio))

    @property
    def l1_strength(self) -> float:
        return float(self.alpha * self.l1_ratio)


@dataclasses.dataclass(frozen=True)
class Penalties(Penalty):
    """A sum of penalties (what ``penalty + penalty`` returns)."""

    parts: tuple[Penalty, ...] = ()

    @property
    def terms(self) -> tuple[Penalty, ...]:
        return self.parts

    @property
    def l2_strength(self) -> float:
        return sum(p.l2_strength for p in self.parts)

    @property
    def l1_strength(self) -> float:
        return sum(p.l1_strength for p in self.parts)


def squared_norm(params, mask) -> jax.Array:
    """``||w||²`` over the leaves where ``mask`` is True."""
    return _sum_over(params, mask, jnp.square)


def abs_norm(params, mask) -> jax.Array:
    """``||w||₁`` over the leaves where ``mask`` is True."""
    return _sum_over(params, mask, jnp.abs)


def _sum_over(params, mask, fn) -> jax.Array:
    leaves = jax.tree.leaves(params)
    flags = jax.tree.leaves(mask)
    total = [jnp.sum(fn(leaf)) for leaf, keep in zip(leaves, flags, strict=True) if keep]
    return sum(total, start=jnp.zeros((), leaves[0].dtype if leaves else jnp.float32))
