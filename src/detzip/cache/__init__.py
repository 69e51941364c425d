"""The artifact cache: ``keys`` (what a zip's bytes depend on) → ``local`` (the read-through
cache, laid out as ``layout`` says; ``settings`` chooses it) → ``remote`` (the shared-cache
protocol) and ``s3``; ``admin`` shows and prunes the local folder."""
