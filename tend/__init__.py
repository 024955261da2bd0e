"""Tend's process level: the command line, the web server with its routes, the schema."""
