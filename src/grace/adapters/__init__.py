"""Adapters: the database and, later, the outside systems Grace talks to."""
