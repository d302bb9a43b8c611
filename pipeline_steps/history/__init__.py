"""The evaluation history: what the gate compares relative SLO criteria with and the HTML report draws.

A family at the level of sources and platforms, so the gate and the report both read it.
``sqlite.py`` is the store today (one file, WAL, no server). May import: documents, files,
secrets, errors.
"""
