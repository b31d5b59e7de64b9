"""A production-shape Temporal on one machine: the server from its Go module on a local PostgreSQL."""
