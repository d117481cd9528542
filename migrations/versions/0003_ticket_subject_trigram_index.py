"""ticket subject trigram index (PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

``GET /api/v1/tickets?q=`` is a substring match on the subject; without this index it scans
the organization's tickets (bench/RESULTS.md, list). SQLite has no trigram index and keeps
scanning, which is fine at embedded sizes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # a trusted extension since PG 13
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_tickets_subject_trgm "
        "ON tickets USING gin (lower(subject) gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_tickets_subject_trgm")
