"""SLA reports for managers: compliance, trends, drill-down, CSV, and SVG charts, all read
from the facts the ticket projection records (``sla_facts``, ``desk.sla.tracker.facts``)."""
