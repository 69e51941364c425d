"""Dependencies: what a layer installs, for which Lambda target, from which wheels.

``request`` (the :class:`~detzip.deps.request.Dependencies` asked for) and ``targets`` (runtime
and architecture → wheel tags) → ``locks`` (one reader per lock format) → ``resolution`` (one
file per package, remembered while the lock is unchanged) → ``store`` (the verified wheels,
fetched by ``pip`` when missing).
"""
