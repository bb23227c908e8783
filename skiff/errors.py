"""The one exception hierarchy of skiff.

Each error knows its CLI exit code and its HTTP status, so the CLI and the API report the
same failure the same way.
"""


class SkiffError(Exception):
    """Base of every error skiff reports to a user."""

    exit_code = 125
    http_status = 500


class NotFound(SkiffError):
    exit_code = 1
    http_status = 404


class Conflict(SkiffError):
    exit_code = 1
    http_status = 409


class InvalidArgument(SkiffError):
    exit_code = 125
    http_status = 400


class EngineError(SkiffError):
    exit_code = 125
    http_status = 500
