"""What stops ``lakehook publish``: one error tree, each message saying what to do next."""

from __future__ import annotations

from collections.abc import Sequence

from lambda_resolver.core.errors import Problem


class PublishError(Exception):
    """Publishing cannot go on. The message says what to do; ``problems`` are a bundle's compile
    problems (to be printed one by one)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class NotDeployed(PublishError):
    """Jobs a flow runs have no deployed id for the target."""

    def __init__(self, message: str, keys: Sequence[str]) -> None:
        super().__init__(message)
        self.keys = list(keys)


class AmbiguousJob(PublishError):
    """Several workspace jobs carry the name a bundle job was deployed under."""


class ResolverError(PublishError):
    """The resolver could not be reached, or refused a request."""


def not_deployed(keys: Sequence[str], target: str, where: str) -> NotDeployed:
    """The error naming every job without a deployed id, and the deploy that gives them one."""
    shown = ", ".join(f"'{k}'" for k in keys)
    noun = "job" if len(keys) == 1 else "jobs"
    verb = "is" if len(keys) == 1 else "are"
    return NotDeployed(
        f"{noun} {shown} {verb} not deployed to target '{target}' ({where}); run "
        f"`databricks bundle deploy -t {target}` first (then `databricks bundle summary -t {target} "
        f"--output json` again if you pass --summary)",
        keys,
    )
