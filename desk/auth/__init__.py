"""Organizations, users, login, tokens and the dependencies that scope every request."""
