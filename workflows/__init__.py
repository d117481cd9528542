"""Temporal workflows. Every workflow class the worker runs is listed in WORKFLOWS."""

WORKFLOWS: list[type] = []
