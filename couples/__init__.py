"""Shared kernel: settings, database, accounts, the couple space and authorization."""
