"""The differential fuzzer: the contracts and the reference model in lockstep,
every balance compared and I1-I10 checked after every step.

Only the fuzzer lives here; the chain it drives is :mod:`perpvault.chain` (the raw JSON-RPC
driver for speed, the ape driver as the bench's baseline; the one-call state read, the diff
with the model and the invariant check are the ones the lockstep tests and the replay use).

Modules:

- :mod:`perpvault.fuzz.machine`: ``PerpMachine``, the Hypothesis state machine, and ``Harness``
  (one Anvil, the system deployed and set up, the post-setup snapshot);
- :mod:`perpvault.fuzz.campaign`: ``run_worker`` / ``run_campaign`` (one Anvil per worker process;
  a worker whose Anvil dies starts a fresh one, redeploys and resumes);
- :mod:`perpvault.fuzz.mutants`: deliberately broken contracts the fuzzer must catch
  (:class:`perpvault.mutants.Mutant`, the registry shape the formal checks share);
- :mod:`perpvault.fuzz.cli`: ``perpvault fuzz --steps N --seed S [--workers W] [--json]
  [--mutant NAME]``.

Keep episodes short: revert to a post-setup snapshot every ~50 steps (one Hypothesis
example). Anvil's per-transaction cost grows with the chain: measured here 440 steps/s
with episodes of 25, 395 with 100, 245 with 400 and 87 with one 3000-step episode.
``bench/fuzz_throughput.py`` measures the full machine, raw and through ape; docs/fuzzing.md
has the numbers and the design of the speed-ups.
"""
