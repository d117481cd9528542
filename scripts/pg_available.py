"""Exit 0 if the PostgreSQL server at the URL given (SQLAlchemy or libpq form) answers, else 1.

Used by `make test` to decide whether the PostgreSQL half of the suite can run.
"""

from __future__ import annotations

import sys

import psycopg
from sqlalchemy.engine import make_url


def main(url: str) -> int:
    parsed = make_url(url).set(drivername="postgresql")
    try:
        with psycopg.connect(
            parsed.render_as_string(hide_password=False), connect_timeout=5
        ) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0]
        print(f"PostgreSQL unreachable at {parsed}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
