"""Stdio takeover: fd 0 becomes /dev/null, fd 1 and fd 2 pipes whose lines become log records,
and logging.getLogger('pratai') a source of records too."""

import io
import logging
import os
import sys

from .channel import private_fd


class SyncedTextStream(io.TextIOWrapper):
    """sys.stdout / sys.stderr: a line-buffered text stream on a pipe that, when it writes a
    line, first records what the other descriptor received before it and then records the line,
    so print() lines and logger records keep the order the code produced them in."""

    capture = None
    pipe = None  # the pipe this stream writes to
    others = ()  # the other pipes

    def write(self, text):
        capture = self.capture
        if capture is None or capture.truncated or "\n" not in text:
            # Text without a newline stays buffered, and becomes part of a record only with its
            # line; once truncated, nothing more is kept this request.
            return super().write(text)
        capture.flush_streams(skip=self)
        capture.drain(self.others)
        written = super().write(text)  # line buffering: the line is in the pipe now
        capture.drain((self.pipe,))
        return written


class CaptureHandler(logging.Handler):
    """Turns records of logging.getLogger('pratai') into log records of the current request."""

    def __init__(self, capture):
        super().__init__(logging.DEBUG)
        self.capture = capture
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record):
        try:
            message = self.format(record)  # the default formatter appends exc_info and stack_info
            self.capture.sync()  # lines printed before this record come before it
            # Stamped when added, not record.created: the lines taken in just now were added
            # after the record was made, and times must not go backwards along the list.
            self.capture.add(record.levelname, "pratai", message)
        except Exception:
            self.handleError(record)


def take_over_stdio(capture):
    """Points fds 0, 1, 2 and their Python streams away from the container's own; returns a
    private copy of the container's stderr, for the runtime's own last words.

    The channel must be open before this: on stdin/stdout it needs the real fds 0 and 1.
    """
    err_fd = private_fd(2)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)

    pipes = [capture.redirect(1, "stdout", "INFO"), capture.redirect(2, "stderr", "ERROR")]
    streams = []
    for fd, pipe in zip((1, 2), pipes):
        stream = SyncedTextStream(
            io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8", errors="backslashreplace", line_buffering=True)
        stream.capture = capture
        stream.pipe = pipe
        stream.others = tuple(other for other in pipes if other is not pipe)
        streams.append(stream)
    capture.streams = streams
    sys.stdout, sys.stderr = streams
    sys.__stdout__, sys.__stderr__ = streams
    sys.stdin = sys.__stdin__ = open(os.devnull, "r")

    logger = logging.getLogger("pratai")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(CaptureHandler(capture))
    os.register_at_fork(after_in_child=capture.after_fork_in_child)
    return err_fd
