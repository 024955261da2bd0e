"""Safety, privacy and data ownership: export, account deletion, the quiet pause, and
the safety pages (quick exit, support panel, help)."""
