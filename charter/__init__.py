"""The reconciliation charter: what each partner thinks ended it last time (revealed
only when both have written), the root causes the couple names together with what each
will change (a kind of agreement: versioned, both consent), the dealbreakers, a private
safety note, and the warning that what ended it last time is back."""
