"""`caliber db upgrade [REVISION]` and `caliber db check`: the database's migrations.

Alembic and SQLAlchemy are imported inside the commands so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from caliber.cli.output import Parser, fail
from caliber.cli.settings import load_settings


def add_db(commands: Any) -> None:
    """`caliber db ACTION`."""
    db_cmd = commands.add_parser("db", help="database migrations")
    db_commands = db_cmd.add_subparsers(dest="db_command", metavar="ACTION", parser_class=Parser)
    upgrade_cmd = db_commands.add_parser("upgrade", help="apply migrations (default: to head)")
    upgrade_cmd.add_argument("revision", nargs="?", default="head")
    upgrade_cmd.set_defaults(handler=_db_upgrade)
    check_cmd = db_commands.add_parser(
        "check", help="exit 2 if the database schema differs from the models"
    )
    check_cmd.set_defaults(handler=_db_check)


def _db_upgrade(args: argparse.Namespace) -> None:
    from caliber.db.migrate import upgrade

    settings = load_settings()
    from sqlalchemy.engine import make_url

    upgrade(settings.database_url, args.revision)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    sys.stderr.write(f"database at {shown} is at {args.revision}\n")


def _db_check(args: argparse.Namespace) -> None:
    from caliber.db.migrate import pending_differences
    from caliber.db.session import build_engine

    del args
    settings = load_settings()
    engine = build_engine(settings.database_url)
    try:
        differences = pending_differences(engine)
    finally:
        engine.dispose()
    if differences:
        for difference in differences:
            sys.stderr.write(f"  {difference}\n")
        fail("the database schema differs from the models (run 'caliber db upgrade')")
    sys.stderr.write("the database schema matches the models\n")
