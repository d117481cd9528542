"""HTTP plumbing: error mapping, request-scoped dependencies, pagination."""
