"""The web portal: server-rendered pages on the same use cases as the REST routes, a
cookie session, CSRF-protected forms, and a Server-Sent Events stream that keeps open
pages live."""
