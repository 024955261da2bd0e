"""Outbox, email rendering, transports (SMTP via yagmail, file drop) and the scheduler."""
