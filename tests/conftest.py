"""Shared fixtures: tool paths, Hypothesis profiles, role-named accounts.

Deployment fixtures are not written here; they come from ``perpvault.chain`` so tests,
the demo and the fuzzers deploy the system the same way.
"""

# Must run before ape connects a provider or compiles: ape-foundry locates anvil and
# ape-vyper locates vyper only through shutil.which().
from perpvault.paths import ensure_tool_path

ensure_tool_path()

import os  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# --- Hypothesis profiles ---------------------------------------------------------------------
# Every example costs real RPC round trips against anvil (~0.1 s per stateful step), so the
# deadline is off and the function-scoped-fixture check is silenced (chain state is reset by
# ape's isolation, not by re-running fixtures).
_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("quick", max_examples=10, stateful_step_count=10, **_COMMON)
settings.register_profile("ci", max_examples=50, stateful_step_count=25, **_COMMON)
settings.register_profile("long", max_examples=1000, stateful_step_count=50, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- Accounts ----------------------------------------------------------------------------------
# Ape's test accounts are funded by anvil at launch; each role gets a fixed index so traces
# and failure reports always name the same address the same way.
@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def oracle_updater(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def keeper(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def lp(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def maker(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def taker(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def trader(accounts):
    """A third trader, for cases that need someone besides maker and taker."""
    return accounts[6]


@pytest.fixture(scope="session")
def stranger(accounts):
    """Holds no role and no position: the caller for every access-control revert test."""
    return accounts[7]


# --- Deployment --------------------------------------------------------------------------------
# deployment fixtures come from perpvault.chain


@pytest.fixture(scope="session")
def system(owner, oracle_updater):
    """The whole perpvault system, deployed once per session by perpvault.chain.deploy.

    Tests run inside ape's per-test isolation (snapshot/revert), so each test starts from
    this fresh deployment.
    """
    from perpvault.chain import deploy

    return deploy(owner, oracle_updater)
