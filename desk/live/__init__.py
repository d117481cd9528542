"""Live events: an append-only table of what changed (tickets, comments, files, in-app
notifications), written in the same transaction as the change and streamed to browsers."""
