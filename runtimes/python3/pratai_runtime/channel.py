"""The channel: the runtime's one path to the runner, and the only writer of protocol lines."""

import collections
import fcntl
import json
import os
import socket
import threading

# Protocol descriptors are moved up here so they are not the "next free fd" user code reuses.
PRIVATE_FD_MIN = 200


def private_fd(fd):
    """A non-inheritable duplicate of fd, numbered high."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, PRIVATE_FD_MIN)


def connect_socket(path):
    """The runner's Unix socket at `path`, connected, as a private fd; None where there is none.

    The socket joins this process to the runner directly, where stdin and stdout pass through the
    Docker engine and its shim for every message. Where the runner could not share one (its
    folder is not the Docker host's), the folder is empty and the channel is stdin and stdout.
    """
    if not path:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    fd = private_fd(sock.fileno())
    sock.close()
    return fd


def encode(message, raw_response=None):
    """One protocol line. `raw_response` is JSON already, spliced in as the `response` key."""
    line = json.dumps(message, separators=(",", ":"))
    if raw_response is not None:
        line = line[:-1] + ',"response":' + raw_response + "}"
    return (line + "\n").encode("ascii")  # ensure_ascii: lone surrogates cannot break UTF-8


class Channel:
    """Reads the runner's lines and writes whole lines back, from any thread.

    Three kinds of writer share it: the main thread (ready, results, errors), the pipe readers
    (streamed log records) and the SIGUSR1 handler (the logs so far), which runs in the main
    thread between two bytecodes, possibly while that very thread is in the middle of a line. A
    lock keeps lines whole. The handler must never wait for it (its own thread may be the holder,
    which would wait forever): it leaves its line in `deferred` and takes the lock only if it is
    free; whoever holds the lock writes the deferred lines once its own line is done.
    """

    def __init__(self, out_fd, in_file):
        self.out_fd = out_fd
        self.in_file = in_file
        self.lock = threading.Lock()
        self.deferred = collections.deque()  # append and popleft are atomic: safe in a handler

    @classmethod
    def open(cls, socket_path):
        """The runner's socket when there is one at `socket_path`, else this process's stdin and stdout."""
        fd = connect_socket(socket_path)
        if fd is None:
            return cls(private_fd(1), os.fdopen(private_fd(0), "rb"))
        return cls(fd, os.fdopen(private_fd(fd), "rb"))

    def __iter__(self):
        return iter(self.in_file)

    def send(self, message, raw_response=None):
        self.write(encode(message, raw_response))

    def write(self, data):
        """Writes `data` (whole lines) before any other writer's next line."""
        with self.lock:
            self._write_all(data)
        if self.deferred:
            self._write_deferred()

    def write_from_signal_handler(self, data):
        """Writes `data` now if no one is writing, else as soon as the current writer's line ends."""
        self.deferred.append(data)
        self._write_deferred()

    def _write_deferred(self):
        # The loop re-checks after letting go: a handler that found the lock taken just before
        # relies on the holder to see its line.
        while self.deferred:
            if not self.lock.acquire(blocking=False):
                return  # the holder writes them when its line is done
            try:
                while self.deferred:
                    self._write_all(self.deferred.popleft())
            finally:
                self.lock.release()

    def _write_all(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]
