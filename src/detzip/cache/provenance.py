"""Provenance: who built a cached artifact, where and when — kept in its record, outside the key.

A record says which detzip wrote it (its version and zip format; the record's
``detzip-cache-entry`` is the key's version), on what machine (OS,
architecture, Python), at what time, and, on a CI service that names its run in the
environment, which run (GitHub Actions, GitLab CI, Buildkite, CircleCI, Jenkins, Azure
Pipelines, AWS CodeBuild, Bitbucket Pipelines). Only the variables listed here are read:
identifiers and URLs that the service shows to anyone who can see the run — never a token,
never the rest of the environment.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

__all__ = ["CI_FIELDS", "provenance"]

#: per CI service: the variable whose presence names it, then (field, variable) pairs to keep
CI_FIELDS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "github-actions": (
        "GITHUB_ACTIONS",
        (
            ("server", "GITHUB_SERVER_URL"),
            ("repository", "GITHUB_REPOSITORY"),
            ("run_id", "GITHUB_RUN_ID"),
            ("run_attempt", "GITHUB_RUN_ATTEMPT"),
            ("workflow", "GITHUB_WORKFLOW"),
            ("job", "GITHUB_JOB"),
            ("ref", "GITHUB_REF"),
            ("sha", "GITHUB_SHA"),
            ("event", "GITHUB_EVENT_NAME"),
            ("actor", "GITHUB_ACTOR"),
        ),
    ),
    "gitlab-ci": (
        "GITLAB_CI",
        (
            ("job_url", "CI_JOB_URL"),
            ("job_id", "CI_JOB_ID"),
            ("project", "CI_PROJECT_PATH"),
            ("ref", "CI_COMMIT_REF_NAME"),
            ("sha", "CI_COMMIT_SHA"),
            ("pipeline_source", "CI_PIPELINE_SOURCE"),
            ("protected", "CI_COMMIT_REF_PROTECTED"),
        ),
    ),
    "buildkite": (
        "BUILDKITE",
        (
            ("build_url", "BUILDKITE_BUILD_URL"),
            ("job_id", "BUILDKITE_JOB_ID"),
            ("branch", "BUILDKITE_BRANCH"),
            ("sha", "BUILDKITE_COMMIT"),
            ("pull_request", "BUILDKITE_PULL_REQUEST"),
        ),
    ),
    "circleci": (
        "CIRCLECI",
        (
            ("build_url", "CIRCLE_BUILD_URL"),
            ("branch", "CIRCLE_BRANCH"),
            ("sha", "CIRCLE_SHA1"),
            ("pull_request", "CIRCLE_PULL_REQUEST"),
        ),
    ),
    "azure-pipelines": (
        "TF_BUILD",
        (
            ("collection", "SYSTEM_COLLECTIONURI"),
            ("project", "SYSTEM_TEAMPROJECT"),
            ("build_id", "BUILD_BUILDID"),
            ("branch", "BUILD_SOURCEBRANCH"),
            ("sha", "BUILD_SOURCEVERSION"),
            ("reason", "BUILD_REASON"),
        ),
    ),
    "codebuild": (
        "CODEBUILD_BUILD_ID",
        (
            ("build_id", "CODEBUILD_BUILD_ID"),
            ("source_version", "CODEBUILD_SOURCE_VERSION"),
            ("sha", "CODEBUILD_RESOLVED_SOURCE_VERSION"),
            ("webhook_event", "CODEBUILD_WEBHOOK_EVENT"),
        ),
    ),
    "bitbucket-pipelines": (
        "BITBUCKET_BUILD_NUMBER",
        (
            ("repository", "BITBUCKET_REPO_FULL_NAME"),
            ("build_number", "BITBUCKET_BUILD_NUMBER"),
            ("branch", "BITBUCKET_BRANCH"),
            ("sha", "BITBUCKET_COMMIT"),
            ("pull_request", "BITBUCKET_PR_ID"),
        ),
    ),
    "jenkins": (
        "JENKINS_URL",
        (
            ("build_url", "BUILD_URL"),
            ("job", "JOB_NAME"),
            ("build_number", "BUILD_NUMBER"),
            ("branch", "BRANCH_NAME"),
            ("sha", "GIT_COMMIT"),
        ),
    ),
}


def provenance(
    environ: Mapping[str, str] | None = None, now: float | None = None
) -> dict[str, object]:
    """Who is building, here and now: detzip's version and formats, the machine, the time, and
    the CI run if the environment names one (``ci``: absent otherwise)."""
    import platform

    from detzip._version import __version__
    from detzip.zip.options import FORMAT_VERSION

    env = os.environ if environ is None else environ
    moment = time.time() if now is None else now
    found: dict[str, object] = {
        "detzip": __version__,
        "format": FORMAT_VERSION,
        "os": sys.platform,
        "arch": platform.machine().lower(),
        "python": platform.python_version(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)),
    }
    for service, (marker, fields) in CI_FIELDS.items():
        if env.get(marker):
            ci = {"service": service}
            ci.update({field: _public(env[name]) for field, name in fields if env.get(name)})
            if service == "github-actions" and {"server", "repository", "run_id"} <= ci.keys():
                ci["run_url"] = f"{ci['server']}/{ci['repository']}/actions/runs/{ci['run_id']}"
            found["ci"] = ci
            break
    return found


def _public(value: str) -> str:
    """``value`` without the credentials a URL may carry (``https://user:token@host/…``: a
    Jenkins ``BUILD_URL`` inherits them from ``JENKINS_URL``)."""
    import re

    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@", r"\1", value.strip())[:300]
