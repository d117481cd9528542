"""Organization administration: users and services (ADMIN only)."""
