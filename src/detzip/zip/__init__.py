"""The zip format: entries in, canonical bytes out.

``entries`` (what goes in a zip and where its bytes come from) → ``options`` (timestamp,
compressor, level) → ``compressors`` (the pinned deflate, checked against known answers) →
``writer`` (the canonical writer). ``reader`` and ``diff`` read zips back.
"""
