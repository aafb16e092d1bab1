"""What every command writes: a user error as one line (exit status 2), summaries as
rich tables on a terminal or plain aligned text when piped.

rich is imported only when a terminal needs it, so piped output and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console


class CliInputError(Exception):
    """A user error to report on one line."""


def fail(message: str) -> NoReturn:
    """A user error: one line on stderr and exit status 2."""
    raise CliInputError(message)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 via CliInputError."""

    def error(self, message: str) -> NoReturn:
        raise CliInputError(f"{message} (see '{self.prog} --help')")


def console(*, stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


# title, key facts, tables (a name and rows whose first row is the header), closing lines
Summary = tuple[str, list[tuple[str, str]], list[tuple[str, list[list[str]]]], list[str]]


def print_summary(summary: Summary, left: tuple[int, ...] = (0, 3)) -> None:
    """Rich tables on a terminal; plain aligned text when piped (and no rich import);
    columns in ``left`` are left-aligned, the others right-aligned."""
    if sys.stdout.isatty():
        _print_rich(summary, left)
        return
    title, facts, tables, closing = summary
    lines = [title]
    width = max(len(k) for k, _ in facts)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in facts]
    for name, rows in tables:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines.append(f"{name}:")
        for row in rows:
            cells = [
                cell.ljust(w) if i in left else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  " + "  ".join(cells).rstrip())
    lines += closing
    sys.stdout.write("\n".join(lines) + "\n")


def _print_rich(summary: Summary, left: tuple[int, ...]) -> None:
    from rich.markup import escape
    from rich.table import Table

    title, facts, tables, closing = summary
    out = console(stderr=False)
    out.print(f"[bold]{escape(title)}[/bold]")
    grid = Table(show_header=False, box=None, pad_edge=False)
    grid.add_column(style="dim")
    grid.add_column(justify="right")
    for key, value in facts:
        grid.add_row(escape(key), escape(value))
    out.print(grid)
    for name, rows in tables:
        table = Table(title=name, title_justify="left")
        for i, column in enumerate(rows[0]):
            table.add_column(column, justify="left" if i in left else "right")
        for row in rows[1:]:
            table.add_row(*(escape(cell) for cell in row))
        out.print(table)
    for line in closing:
        style = "yellow" if line.startswith("warning:") else "default"
        out.print(escape(line), style=style)
