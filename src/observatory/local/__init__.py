"""Running the stack's components as local processes, for tests and for `make up` without Docker."""
