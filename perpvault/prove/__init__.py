"""Formal checks (`perpvault prove`): z3 proofs over the reference model's transitions, and
halmos checks and a forge invariant campaign on the compiled contracts (formal/).

* :mod:`perpvault.prove.backend`: one arithmetic, on Python ints or on z3 terms.
* :mod:`perpvault.prove.gmath`: `perp_math` twins over that arithmetic.
* :mod:`perpvault.prove.transitions`: the clearinghouse's transitions over it.
* :mod:`perpvault.prove.checks`: the properties, the planted mutants, the runner.
* :mod:`perpvault.prove.formal`: halmos and forge on the bytecode, and their planted mutants.
* :mod:`perpvault.prove.halmos_vyper`, :mod:`perpvault.prove.bitwuzla_cli`: run under the
  halmos virtualenv (halmos on Vyper test contracts; bitwuzla as a command-line solver).
* :mod:`perpvault.prove.cli`: the ``perpvault prove`` command.

See docs/verification.md for every property, its bounds and what is not proved.
"""
