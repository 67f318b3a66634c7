"""Log capture: the current request's log records, from the stdout/stderr pipes and the logger,
in order, within the log cap, and streamed as they are kept when the run asks for it."""

import fcntl
import json
import os
import select
import struct
import termios
import threading
import time

# A record's size on the protocol line, besides its level, source and JSON-escaped message:
# {"time":"2024-05-01T12:00:00.123Z","level":"","source":"","message":}, plus a comma.
RECORD_FRAME_BYTES = len('{"time":"","level":"","source":"","message":},') + len("2024-05-01T12:00:00.123Z")
# The logs array's brackets: with RECORD_FRAME_BYTES, the JSON of a request's kept records is at
# most the cap.
EMPTY_LOGS_BYTES = len("[]")
# Over the cap, a record is cut to what room is left if that is at least this much.
MIN_CLIPPED_RECORD_BYTES = 1024
READ_CHUNK_BYTES = 64 * 1024


def iso_time(timestamp):
    """ISO 8601 UTC with milliseconds and a Z: 2024-05-01T12:00:00.123Z."""
    millis = int(timestamp * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + ".%03dZ" % millis


class _Pipe:
    """The read end of the pipe that replaced fd 1 or fd 2, and its unfinished line."""

    def __init__(self, source, level):
        self.source = source
        self.level = level
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.write_fd = write_fd
        self.partial = b""


class LogCapture:
    """Collects the current request's log records: pipe lines and logger records, in order.

    One lock covers reading a pipe, turning bytes into records, appending them and streaming
    them, so whoever holds it (a reader thread, or the main thread syncing before a logger record
    or a result) sees every byte written before it was taken. That is what keeps print() output
    and logger records in the order the code produced them, and streamed records in that order.

    Streaming: between start(stream) and finish(), each kept record is also queued for `stream`,
    which gets them in batches (all the records one chunk of a pipe made, say) before the lock is
    let go. Without a stream nothing is queued: a run that does not ask pays nothing.
    """

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        # Lines longer than this are cut into several records; it bounds the unfinished-line buffer.
        self.max_line_bytes = max(max_bytes, 1)
        self.lock = threading.RLock()
        self.records = []
        self.used_bytes = EMPTY_LOGS_BYTES
        self.truncated = False
        self.stream = None
        self.outgoing = []
        self.pipes = []
        self.streams = []
        self.forked = False

    # -- a run ----------------------------------------------------------------------------------

    def start(self, stream=None):
        """A run begins: what came before belongs to no run; `stream` gets this run's records."""
        with self.lock:
            self._reset()
            self.stream = stream

    def finish(self):
        """A run ends (after sync): its records; streaming stops."""
        with self.lock:
            records = self.take()
            self.stream = None
            return records

    def take(self):
        """The records so far, and a fresh, empty budget for the next request."""
        with self.lock:
            records = self.records
            self._reset()
            return records

    def _reset(self):
        self.records = []
        self.outgoing = []
        self.used_bytes = EMPTY_LOGS_BYTES
        self.truncated = False

    # -- records --------------------------------------------------------------------------------

    def add(self, level, source, message):
        if self.forked:
            # A logger record in a process the function forked: hand it to the parent as a line.
            os.write(2, (message + "\n").encode("utf-8", "replace"))
            return
        with self.lock:
            self._add(level, source, message)
            self._send_outgoing()

    def _add(self, level, source, message):
        if self.truncated:
            return
        # The cap counts records as the runner will receive them (escaped JSON), so it bounds
        # the result line, and charges empty lines too (a million of them is a lot of records).
        frame = len(level) + len(source) + RECORD_FRAME_BYTES
        cost = len(json.dumps(message)) + frame
        if self.used_bytes + cost <= self.max_bytes:
            self.used_bytes += cost
            self._append(level, source, message)
            return
        # Over the cap: keep the head of this record when a useful part of it fits (one
        # huge line, say), then say that the rest of this request's output was dropped.
        room = self.max_bytes - self.used_bytes - frame
        if room >= MIN_CLIPPED_RECORD_BYTES:
            head = message[:room]
            while len(json.dumps(head)) > room:
                head = head[:len(head) - max(1, (len(json.dumps(head)) - room) // 6)]
            self._append(level, source, head)
        self.truncated = True
        self._append("WARNING", "pratai", "log output truncated at %d bytes" % self.max_bytes)
        for pipe in self.pipes:
            pipe.partial = b""

    def _append(self, level, source, message):
        record = {
            "time": iso_time(time.time()),
            "level": level,
            "source": source,
            "message": message,
        }
        self.records.append(record)
        if self.stream is not None:
            self.outgoing.append(record)

    def _send_outgoing(self):
        """Hands the queued records to the stream; called with the lock held, so in order."""
        if self.outgoing:
            records, self.outgoing = self.outgoing, []
            self.stream(records)

    # -- pipes ----------------------------------------------------------------------------------

    def redirect(self, fd, source, level):
        """Point fd at a new pipe whose lines become records of `source`; start its reader."""
        pipe = _Pipe(source, level)
        os.dup2(pipe.write_fd, fd)  # dup2 keeps fd inheritable: subprocesses write here too
        os.close(pipe.write_fd)
        self.pipes.append(pipe)
        thread = threading.Thread(target=self._read_forever, args=(pipe,), name="pratai-" + source, daemon=True)
        thread.start()
        return pipe

    def _read_forever(self, pipe):
        poller = select.poll()
        poller.register(pipe.read_fd, select.POLLIN)
        while True:
            poller.poll()
            with self.lock:
                try:
                    data = os.read(pipe.read_fd, READ_CHUNK_BYTES)
                except BlockingIOError:
                    continue  # the main thread drained it first
                if not data:
                    return
                self._feed(pipe, data)
                self._send_outgoing()

    def _feed(self, pipe, data):
        if self.truncated:
            return  # keep reading, keep nothing
        buffer = pipe.partial + data
        lines = buffer.split(b"\n")
        pipe.partial = lines.pop()
        for line in lines:
            self._add(pipe.level, pipe.source, line.decode("utf-8", "replace"))
            if self.truncated:
                return
        while len(pipe.partial) > self.max_line_bytes:
            cut = self.max_line_bytes
            while cut > 0 and (pipe.partial[cut] & 0xC0) == 0x80:
                cut -= 1  # do not split a UTF-8 character
            cut = cut or self.max_line_bytes
            head, pipe.partial = pipe.partial[:cut], pipe.partial[cut:]
            self._add(pipe.level, pipe.source, head.decode("utf-8", "replace"))

    def sync(self, finish_lines=False):
        """Flush the Python streams and take in everything already written to the pipes.

        With finish_lines, an unfinished last line becomes a record too (end of a request).
        """
        self.flush_streams()
        self.drain(self.pipes)
        if finish_lines:
            with self.lock:
                for pipe in self.pipes:
                    if pipe.partial:
                        line, pipe.partial = pipe.partial, b""
                        self._add(pipe.level, pipe.source, line.decode("utf-8", "replace"))
                self._send_outgoing()

    def flush_streams(self, skip=None):
        for stream in self.streams:
            if stream is skip:
                continue
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # a user closed or broke sys.stdout: still report what we have

    def after_fork_in_child(self):
        """In a process the function forked: never read the pipes (that would steal the parent's
        output, and a lock a reader thread held at the fork would never be released): the
        child's output goes into the pipes like a subprocess's, and the parent records it."""
        self.forked = True
        self.lock = threading.RLock()
        self.stream = None
        self.outgoing = []
        for stream in self.streams:
            stream.capture = None

    def drain(self, pipes):
        """Turn the bytes waiting in `pipes` into records now (not when a reader gets to them)."""
        if self.forked:
            return
        with self.lock:
            for pipe in pipes:
                pending = _bytes_pending(pipe.read_fd)
                while pending > 0:
                    try:
                        data = os.read(pipe.read_fd, min(pending, READ_CHUNK_BYTES))
                    except BlockingIOError:
                        break
                    if not data:
                        break
                    pending -= len(data)
                    self._feed(pipe, data)
            self._send_outgoing()


def _bytes_pending(fd):
    raw = fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", raw)[0]
