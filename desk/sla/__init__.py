"""SLA policies, business calendars and the pure business-time clock."""
