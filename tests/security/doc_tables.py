"""Tables of docs/security.md that are rendered from test data, and the check that the page
shows them as tested (the access matrix and the bad-input catalogue share it)."""

from __future__ import annotations

from perpvault.paths import repo_root

SECURITY_DOC = repo_root() / "docs" / "security.md"


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """A markdown table; `|` inside a cell is escaped."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(head), "|" + " --- |" * len(head), *(line(r) for r in rows)])


def assert_doc_shows(rendered: str, source: str) -> None:
    """docs/security.md contains `rendered` verbatim; otherwise say which render() to paste."""
    doc = SECURITY_DOC.read_text()
    assert rendered in doc, f"docs/security.md is out of date: paste {source}"
