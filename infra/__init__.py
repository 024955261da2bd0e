"""Infrastructure below every product package: settings, the database, errors, tokens, time.

Nothing here imports a product package (tests/test_layers.py holds that).
"""
