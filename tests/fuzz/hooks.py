"""What the fuzzer must know that JSON Schema cannot say: a rule between two parameters.

A report's period runs from ``from`` to ``to``, at most ``MAX_DAYS`` days; a
reversed or longer period is 422 by contract. Each date alone is schema-valid, so the
fuzzer would count such a pair as valid data refused. Positive cases keep to the rule;
negative cases, and our own tests (tests/test_reports_api.py), still send the others.
"""

from __future__ import annotations

from datetime import date

import schemathesis

from desk.reports.period import MAX_DAYS


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    if not case.operation.path.startswith("/api/v1/reports/"):
        return True
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    query = case.query or {}
    try:
        first, last = date.fromisoformat(query["from"]), date.fromisoformat(query["to"])
    except (KeyError, TypeError, ValueError):
        return True
    return 0 <= (last - first).days < MAX_DAYS
