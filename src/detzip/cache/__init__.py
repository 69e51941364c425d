"""The cache: ``keys`` (what a zip's bytes depend on) → ``artifacts`` (the read-through of built
zips, laid out as ``layout`` says) and ``memo`` (what was worked out from input files, with
``stats``, the stat memo); ``local`` is the folder as a build uses it (``settings`` chooses it),
``remote`` the shared-cache protocol and ``s3`` one; ``admin`` shows and prunes the folder."""
