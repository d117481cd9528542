"""ATUM Desk: a multi-tenant service desk whose tickets are durable Temporal workflows."""
