"""Databases' backups before a migration: the protocol, one module per kind (pg_dump in the
sandbox, Flexible Server on-demand backups)."""
