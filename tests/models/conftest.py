"""Fixtures of the model tests.

``kernel_mode`` runs a test twice: with the hand-written kernels where they apply (``auto``, what users
get by default) and with none (``plain``, the model code as written; ``WORLDFLUX_KERNELS=plain``). The
model test modules opt in with ``pytestmark = pytest.mark.usefixtures("kernel_mode")``; a costly test
whose plain run adds nothing (test_kernels.py shows that both modes give the same values and gradients)
narrows it with ``@pytest.mark.kernel_modes("auto")``. The kernel tests (test_kernels*.py) set the mode
themselves, to compare the two.
"""

from __future__ import annotations

import pytest

MODES = ("auto", "plain")


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel_modes(*modes): the kernel modes a kernel_mode test runs in "
                                       "(default: auto and plain)")


def pytest_generate_tests(metafunc):
    if "kernel_mode" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("kernel_modes")
        metafunc.parametrize("kernel_mode", marker.args if marker else MODES, indirect=True)


@pytest.fixture
def kernel_mode(request):
    pytest.importorskip("torch")
    from worldflux_cli.models import kernels

    with kernels.use(request.param):
        yield request.param
