import math

import numpy as np
import pytest
from scipy import stats

from fieldguide._stats import corrected_resampled_ttest


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("n_train", "n_test"), [(900, 100), (500, 500), (80, 20)])
def test_corrected_ttest_matches_direct_formula(seed, n_train, n_test):
    d = np.random.default_rng(seed).normal(0.01, 0.02, size=30)
    result = corrected_resampled_ttest(d, n_train, n_test)
    j = d.size
    t = d.mean() / math.sqrt(np.var(d, ddof=1) * (1 / j + n_test / n_train))
    assert result.t == pytest.approx(t, rel=1e-12)
    assert result.df == j - 1
    assert result.p == pytest.approx(stats.t.sf(t, j - 1), rel=1e-10)


def test_corrected_ttest_is_scipy_one_sample_ttest_with_inflated_variance():
    d = np.random.default_rng(3).normal(0.02, 0.05, size=50)
    n_train, n_test = 800, 200
    naive = stats.ttest_1samp(d, 0.0, alternative="greater")
    shrink = math.sqrt((1 / d.size) / (1 / d.size + n_test / n_train))
    result = corrected_resampled_ttest(d, n_train, n_test)
    assert result.t == pytest.approx(naive.statistic * shrink, rel=1e-12)
    assert result.p > naive.pvalue  # the correction is always more conservative


def test_alternatives_are_consistent():
    d = np.array([0.1, -0.2, 0.05, 0.3, -0.1, 0.2])
    greater = corrected_resampled_ttest(d, 90, 10, "greater").p
    less = corrected_resampled_ttest(d, 90, 10, "less").p
    two = corrected_resampled_ttest(d, 90, 10, "two-sided").p
    assert greater + less == pytest.approx(1.0)
    assert two == pytest.approx(2 * min(greater, less))


def test_constant_differences_give_infinite_t():
    result = corrected_resampled_ttest(np.full(10, 0.05), 90, 10)
    assert result.t == math.inf and result.p == 0.0


@pytest.mark.parametrize(
    ("d", "n_train", "n_test", "match"),
    [([0.1], 9, 1, "at least 2"), ([0.1, 0.2], 0, 1, "positive"), ([0.1, 0.2], 9, 1, "alternative")],
)
def test_bad_arguments_are_named(d, n_train, n_test, match):
    alternative = "sideways" if match == "alternative" else "greater"
    with pytest.raises(ValueError, match=match):
        corrected_resampled_ttest(np.array(d), n_train, n_test, alternative)
