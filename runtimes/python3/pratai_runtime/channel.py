"""The channel: the runtime's one path to the runner, and the only writer of protocol lines."""

import fcntl
import json
import os
import socket

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
    """Reads the runner's lines and writes lines back: only the main thread writes (the SIGUSR1
    handler too runs in it, between two bytecodes of the function, never inside a line)."""

    def __init__(self, out_fd, in_file):
        self.out_fd = out_fd
        self.in_file = in_file

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
        view = memoryview(data)
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]
