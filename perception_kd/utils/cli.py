"""How the command-line tools fail: one line naming the file, a fixed exit status.

Every tool's ``main`` runs inside :func:`tool_errors`. An error the user can fix (a
:class:`ToolError`, or one of the exception types the tool declares as expected, e.g. a
``FileNotFoundError`` naming the missing file) is printed as one line
``<prog>: error: <message>`` on stderr and the process exits with status 2
(:data:`EXIT_ERROR`); status 1 (:data:`EXIT_PROBLEMS`) is kept for "the check ran and
found problems" (``tools/create_data.py --check``, ``tools/check_dataset.py``). With the
environment variable ``PKD_TRACEBACK=1`` the original exception propagates with its
traceback instead (for bug reports).

In-process callers (tests, notebooks) see a :class:`ToolExit`: a ``SystemExit`` whose
``code`` is the exit status and whose ``str()`` is the message, so
``pytest.raises(SystemExit, match=...)`` matches the message.
"""
from __future__ import annotations

import os
import sys
from contextlib import ContextDecorator

__all__ = ['EXIT_ERROR', 'EXIT_PROBLEMS', 'ToolError', 'ToolExit', 'show_traceback',
           'tool_errors']

EXIT_ERROR = 2       # the tool could not do its job (bad input, unwritable output, ...)
EXIT_PROBLEMS = 1    # a check ran to the end and found problems


class ToolError(Exception):
    """An error the user can fix; its message names the file, key or option and what to do."""


class ToolExit(SystemExit):
    """The exit of a tool after an error: ``code`` is the status, ``str()`` the message."""

    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(code)
        self.message = message

    def __str__(self) -> str:
        return self.message


def show_traceback() -> bool:
    """Whether ``PKD_TRACEBACK`` asks for full tracebacks instead of one-line errors."""
    return os.environ.get('PKD_TRACEBACK', '').strip().lower() not in ('', '0', 'false', 'no')


def _message(exc: BaseException) -> str:
    # a KeyError's str() is the repr of its argument (quotes, escaped newlines)
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


class tool_errors(ContextDecorator):  # noqa: N801  (used like a function)
    """Context manager / decorator: expected errors -> one line on stderr + :class:`ToolExit`.

    Args:
        prog: the tool's name, the prefix of the line (``train.py: error: ...``).
        expected: further exception types that are user errors (each message must name
            what is wrong), besides :class:`ToolError`.

    A ``SystemExit`` raised inside with a message (``sys.exit('...')``) passes through
    unchanged (status 1); one with a :class:`ToolExit` is not wrapped twice.
    """

    def __init__(self, prog: str, expected: tuple = ()):
        self.prog = prog
        self.expected = (ToolError,) + tuple(expected)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, self.expected) or show_traceback():
            return False
        message = f'{self.prog}: error: {_message(exc)}'
        print(message, file=sys.stderr, flush=True)
        raise ToolExit(message) from exc
