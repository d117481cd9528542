"""In-app notifications, email and signed webhooks."""
