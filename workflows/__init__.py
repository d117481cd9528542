"""Temporal workflows. Every workflow class the worker runs is listed in WORKFLOWS."""

from workflows.ticket import TicketWorkflow

WORKFLOWS: list[type] = [TicketWorkflow]
