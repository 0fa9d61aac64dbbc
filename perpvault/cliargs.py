"""What every ``perpvault`` subcommand shares on its command line: a parser that fails kindly
(one line saying what is wrong and what is allowed, exit code 2, before anything runs or is
written) and the argument types that refuse bad numbers with such a line."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

USAGE_ERROR = 2  # the exit code of a bad command line (argparse's, and the shell's convention)


class KindParser(argparse.ArgumentParser):
    """An ArgumentParser whose error is one line on stderr, ``prog: error: message``, and exit
    code 2: no usage block, no traceback. Subparsers made from it are KindParsers too."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def usage_error(prog: str, message: str) -> NoReturn:
    """The same one-line refusal from a handler (a check argparse cannot make, e.g. a network
    name only ape can resolve): raised before anything is written."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)


def positive_int(text: str) -> int:
    """An ``int`` >= 1 (steps, traders, workers, jobs, rounds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite ``float`` > 0 (seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text}")
    return value


def progress_enabled(quiet: bool = False, stream=None) -> bool:
    """Progress bars draw only on a terminal: piped or captured output gets the results alone."""
    stream = sys.stderr if stream is None else stream
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


__all__ = ["USAGE_ERROR", "KindParser", "positive_float", "positive_int", "progress_enabled", "usage_error"]
