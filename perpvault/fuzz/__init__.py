"""Fast chain driver for the differential fuzzer (issue 4).

ape is for deploying and for the unit tests: it sends about a dozen RPCs per transaction.
The fuzzer's hot loop instead talks JSON-RPC to its own Anvil over one persistent HTTP
connection, with pre-encoded calldata, Anvil's unlocked accounts and
``eth_sendTransactionSync``, and reads the whole book in one ``eth_call``.

Modules:

- :mod:`perpvault.chain.rpc`: ``start_anvil`` and the JSON-RPC client ``Rpc``.
- :mod:`perpvault.chain.abi`: compiled artifacts (vyper CLI, cached) and calldata encoders.
- :mod:`perpvault.chain.raw`: raw deployment with the same wiring as ``perpvault.chain.deploy``.
- :mod:`perpvault.chain.signing`: EIP-712 order signing without eth_account's slow path.
- :mod:`perpvault.chain.state`: the one-call state read and the I1/I2/I5 checks on it.
- :mod:`perpvault.chain.driver`: ``open_raw()`` and ``RawDriver``, one method per protocol action.
- :mod:`perpvault.chain.logs`: receipt log decoding (the waterfall events the invariants read).
- :mod:`perpvault.fuzz.machine`: ``PerpMachine``, the Hypothesis state machine driving chain and
  model in lockstep (``diff_state``: the one comparison of a StateReader read with the model;
  I1-I10 after every step), and ``Harness`` (one Anvil, post-setup snapshot).
- :mod:`perpvault.fuzz.campaign`: ``run_worker`` / ``run_campaign`` (one Anvil per worker process;
  a worker whose Anvil dies starts a fresh one, redeploys and resumes).
- :mod:`perpvault.chain.ape_driver`: the same chain side through ape's contract objects (the
  bench's baseline).
- :mod:`perpvault.fuzz.mutants`: deliberately broken contracts the fuzzer must catch.
- :mod:`perpvault.fuzz.cli`: ``perpvault fuzz --steps N --seed S [--workers W] [--json] [--mutant NAME]``.

Keep episodes short: revert to a post-setup snapshot every ~50 steps (one Hypothesis
example). Anvil's per-transaction cost grows with the chain: measured here 440 steps/s
with episodes of 25, 395 with 100, 245 with 400 and 87 with one 3000-step episode.
``bench/fuzz_throughput.py`` measures the full machine, raw and through ape; docs/fuzzing.md
has the numbers and the design of the speed-ups.
"""
