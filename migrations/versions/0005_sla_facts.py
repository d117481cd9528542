"""SLA facts for the reports; the organization's reporting time zone

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``sla_facts`` holds one row per ticket and started SLA metric, written by the ticket
projection from then on (``desk.sla.tracker.facts``). Tickets already stored get their rows
here from what their columns know: instants and outcomes, not the business and paused
seconds, which were never recorded (they stay NULL rather than be recomputed). The CASEs
below read those columns as ``tracker.metric_state`` reads a clock, frozen as of this
revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "ticket_id, metric, organization_id, priority, service_id, assigned_to, started_at, "
    "outcome, due_at, met_at, breached_at"
)
_STOPPED = "status IN ('RESOLVED', 'CLOSED')"
# metric: (started_at, due_at, met_at, breached_at, the outcome's CASE, which rows)
_BACKFILL = {
    "accept": (
        "created_at",
        "sla_accept_due_at",
        "accepted_at",
        "accept_breached_at",
        "CASE WHEN accept_breached_at IS NOT NULL THEN 'breached' "
        "WHEN sla_accept_due_at IS NULL THEN 'untracked' "
        "WHEN accepted_at IS NOT NULL THEN 'met' "
        "WHEN status = 'CLOSED' THEN 'stopped' ELSE 'running' END",
        "1 = 1",
    ),
    "first_response": (
        "sla_started_at",
        "sla_first_response_due_at",
        "first_responded_at",
        "first_response_breached_at",
        "CASE WHEN first_response_breached_at IS NOT NULL THEN 'breached' "
        "WHEN first_responded_at IS NOT NULL THEN 'met' "
        f"WHEN {_STOPPED} THEN 'stopped' "
        "WHEN sla_paused_at IS NOT NULL THEN 'paused' ELSE 'running' END",
        "sla_started_at IS NOT NULL",
    ),
    "resolution": (
        "sla_started_at",
        "sla_due_at",
        "resolved_at",
        "sla_breached_at",
        "CASE WHEN sla_breached_at IS NOT NULL THEN 'breached' "
        "WHEN resolved_at IS NOT NULL THEN 'met' "
        f"WHEN {_STOPPED} THEN 'stopped' "
        "WHEN sla_paused_at IS NOT NULL THEN 'paused' ELSE 'running' END",
        "sla_started_at IS NOT NULL",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reporting_timezone", sa.String(length=64), server_default="UTC", nullable=False
            )
        )
    op.create_table(
        "sla_facts",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_to", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("target_seconds", sa.Float(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("business_seconds", sa.Float(), nullable=True),
        sa.Column("paused_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sla_facts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_sla_facts_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "metric", name=op.f("pk_sla_facts")),
    )
    with op.batch_alter_table("sla_facts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sla_facts_org_started",
            ["organization_id", "started_at", "ticket_id", "metric"],
            unique=False,
        )
        batch_op.create_index(
            "ix_sla_facts_org_outcome_started",
            ["organization_id", "outcome", "started_at"],
            unique=False,
        )
    for metric, (started, due, met, breached, outcome, rows) in _BACKFILL.items():
        op.execute(
            f"INSERT INTO sla_facts ({_COLUMNS}) "  # noqa: S608 - constants only
            f"SELECT id, '{metric}', organization_id, priority, service_id, assigned_to, "
            f"{started}, {outcome}, {due}, {met}, {breached} FROM tickets WHERE {rows}"
        )


def downgrade() -> None:
    with op.batch_alter_table("sla_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_facts_org_outcome_started")
        batch_op.drop_index("ix_sla_facts_org_started")
    op.drop_table("sla_facts")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("reporting_timezone")
