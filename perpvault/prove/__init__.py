"""Formal checks: z3 proofs over the reference model's transitions (`perpvault prove`).

* :mod:`perpvault.prove.backend`: one arithmetic, on Python ints or on z3 terms.
* :mod:`perpvault.prove.gmath`: `perp_math` twins over that arithmetic.
* :mod:`perpvault.prove.transitions`: the clearinghouse's transitions over it.
* :mod:`perpvault.prove.checks`: the properties, the planted mutants, the runner.
* :mod:`perpvault.prove.cli`: the ``perpvault prove`` command.

See docs/verification.md for every property, its bounds and what is not proved.
"""
