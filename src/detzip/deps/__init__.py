"""Dependencies: what a layer installs, for which Lambda target, from which wheels.

``request`` (the :class:`~detzip.deps.request.Dependencies` asked for) and ``targets`` (runtime
and architecture → wheel tags) → ``locks`` (one reader per lock format) → ``resolution`` (one
file per package) → ``store`` (the verified wheels, fetched by ``pip`` when missing);
``remembered`` keeps the resolved set while the lock is unchanged, so a hit reads no lock.
"""
