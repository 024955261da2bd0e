"""The guided start after registering: the couple space, the reconciliation plan, the
invitation, and what happens next."""
