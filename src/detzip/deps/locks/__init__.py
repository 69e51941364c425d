"""Lock readers: each turns one lock format into the pinned set for a target.

:func:`detzip.deps.locks.loading.load` picks the reader by file name (or format) and checks
the set.
"""
