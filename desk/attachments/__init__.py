"""Files on tickets: streamed to disk, hashed, scoped to the tenant."""
