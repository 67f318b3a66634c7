"""What a failed run reports: the exception's type, message and traceback, bounded."""

import traceback

# Error messages and tracebacks are user-controlled too (ValueError("x" * 10**8)).
MAX_ERROR_TEXT_CHARS = 64 * 1024


def clip(text, limit=MAX_ERROR_TEXT_CHARS):
    if len(text) <= limit:
        return text
    return text[:limit] + "\n... (%d more characters cut)" % (len(text) - limit)


def describe_exception(exc, skip_frames=1):
    """{type, message, traceback} of an exception, leaving out the runtime's own frame(s)."""
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"type": type(exc).__name__, "message": clip(str(exc)), "traceback": clip(text)}
