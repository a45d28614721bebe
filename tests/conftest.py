"""Shared fixtures: the real bundled model (loaded once) and an in-process CLI runner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

#: tests that need one of these are slow (a whole gallery site, a Ray cluster, Chromium)
SLOW_FIXTURES = {"site", "local_site", "ray_cluster", "browser"}


def pytest_collection_modifyitems(items):
    """``-m "not slow"`` leaves out every test that needs a slow fixture."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def loaded():
    """The bundled seed CNN as a LoadedModel (TensorFlow is imported once per session)."""
    from oipviz.core.loader import load_model

    return load_model()


@pytest.fixture
def runner() -> CliRunner:
    """A click CliRunner; ``result.stderr`` is kept apart from ``result.stdout``."""
    return CliRunner()


@pytest.fixture
def cli(runner):
    """Invoke ``oipviz ARGS...`` in-process; returns click's Result."""
    from oipviz.cli import main

    def invoke(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return invoke


def _assert_user_error(result, *fragments: str) -> str:
    """Exit 2, stderr is one line ``error: ...`` containing ``fragments``, no traceback."""
    err = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stdout, err, result.exception)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err + result.stdout
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture
def user_error():
    """``user_error(result, *fragments)``: assert a one-line ``error: ...`` with exit 2."""
    return _assert_user_error


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray cluster for one test module (skipped where Ray cannot be imported)."""
    try:
        import ray
    except ImportError as exc:
        pytest.skip(f"Ray cannot be imported ({exc}); install it with pip install 'oipviz[ray]'")
    import logging

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
