"""Tickets: the projection of each ticket's workflow, comments, audit trail and lifecycle rules."""
