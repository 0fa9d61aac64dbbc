"""Play a :class:`~perpvault.scenarios.Scenario` on a local Anvil chain (or the reference model
alone) and report what each layer of the risk waterfall absorbed (`perpvault demo`):

- `play`    running the scenario: the chain over raw JSON-RPC with the model in lockstep, the
            keeper's passes, the invariant checks (`Replay`, and `run` end to end)
- `naive`   the naive whole-position ADL it is compared with (`Naive`, `naive_adl`)
- `policies` every ADL event under four policies, measured with perpvault.fairness
            (`PolicyComparison`, `event_allocations`)
- `report`  report.json, report.md, waterfall.png and adl_policies.png (`build_report`, `render_md`,
            `plot_waterfall`, `plot_haircut_shares`)
"""

from perpvault.replay.naive import Naive, naive_adl
from perpvault.replay.play import FIRST_TRADER, Replay, ReplayError, StepData, run, trader_keys
from perpvault.replay.report import PHASES, build_report, plot_waterfall, render_md, write_report

__all__ = [
    "FIRST_TRADER",
    "PHASES",
    "Naive",
    "Replay",
    "ReplayError",
    "StepData",
    "build_report",
    "naive_adl",
    "plot_waterfall",
    "render_md",
    "run",
    "trader_keys",
    "write_report",
]
