"""Service functions: the server's business logic, called by routes and by the CLI."""
