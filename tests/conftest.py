"""Shared test setup: hypothesis profiles (ci: bounded and fast; deep: many examples, for local runs)."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("deep", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

np.seterr(all="ignore")  # tests check values themselves; numpy warnings would only add noise


@pytest.fixture(autouse=True, scope="session")
def single_threaded_blas():
    """The tests multiply small matrices, where BLAS threads cost more than they give: on a
    loaded 2-core machine they made a transformer training test 20x slower (22 s, not 1 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
