"""Pratai's python3 runtime: the program inside every function container.

It loads the user's `new_module` once and answers `run` messages from the runner, one after the
other, over line-delimited JSON (runtimes/README.md is the contract). Python 3.9+, stdlib only.
A prewarmed container starts without a function (PRATAI_AWAIT_INIT=1) and gets its module's
source in an `init` message before its first `run`.

Two promises shape this file:
- Only this file writes to the protocol channel. The container's real stdout is kept on a private,
  non-inheritable descriptor; fd 1 and fd 2 become pipes that we read, so whatever the user's code
  (or its subprocesses, or C extensions) writes there becomes log records, never protocol lines.
  Likewise fd 0 is replaced by /dev/null so user code cannot swallow the runner's messages.
- Logs are bounded. A function printing 100 MB must neither block (the pipe readers keep reading
  and discarding) nor grow our memory past roughly PRATAI_MAX_LOG_BYTES.
"""

import fcntl
import io
import json
import linecache
import logging
import os
import platform
import select
import signal
import socket
import struct
import sys
import termios
import threading
import time
import traceback
import types

RUNTIME_NAME = "python3"
# 2: init messages (prewarmed containers), `leftover` in results, PRATAI_REQUEST_ID per run.
# 3: the channel is the runner's Unix socket at PRATAI_SOCKET when there is one there.
PROTOCOL_VERSION = 3
DEFAULT_MAX_LOG_BYTES = 1024 * 1024
# A record's size on the protocol line, besides its level, source and JSON-escaped message:
# {"time":"2024-05-01T12:00:00.123Z","level":"","source":"","message":}, plus a comma.
RECORD_FRAME_BYTES = len('{"time":"","level":"","source":"","message":},') + len("2024-05-01T12:00:00.123Z")
# The logs array's brackets: with RECORD_FRAME_BYTES, the JSON of a request's kept records is at
# most the cap.
EMPTY_LOGS_BYTES = len("[]")
# Over the cap, a record is cut to what room is left if that is at least this much.
MIN_CLIPPED_RECORD_BYTES = 1024
# Error messages and tracebacks are user-controlled too (ValueError("x" * 10**8)).
MAX_ERROR_TEXT_CHARS = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024
# Protocol descriptors are moved up here so they are not the "next free fd" user code reuses.
PRIVATE_FD_MIN = 200


def iso_time(timestamp):
    """ISO 8601 UTC with milliseconds and a Z: 2024-05-01T12:00:00.123Z."""
    millis = int(timestamp * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + ".%03dZ" % millis


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


def private_fd(fd):
    """A non-inheritable duplicate of fd, numbered high."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, PRIVATE_FD_MIN)


def connect_channel(path):
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

    One lock covers reading a pipe, turning bytes into records and appending them, so whoever
    holds it (a reader thread, or the main thread syncing before a logger record or a result)
    sees every byte written before it was taken. That is what keeps print() output and
    logger records in the order the code produced them.
    """

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        # Lines longer than this are cut into several records; it bounds the unfinished-line buffer.
        self.max_line_bytes = max(max_bytes, 1)
        self.lock = threading.RLock()
        self.records = []
        self.used_bytes = EMPTY_LOGS_BYTES
        self.truncated = False
        self.pipes = []
        self.streams = []
        self.forked = False

    # -- records --------------------------------------------------------------------------------

    def add(self, level, source, message):
        if self.forked:
            # A logger record in a process the function forked: hand it to the parent as a line.
            os.write(2, (message + "\n").encode("utf-8", "replace"))
            return
        with self.lock:
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
        self.records.append({
            "time": iso_time(time.time()),
            "level": level,
            "source": source,
            "message": message,
        })

    def take(self):
        """The records so far, and a fresh, empty budget for the next request."""
        with self.lock:
            records, self.records = self.records, []
            self.used_bytes = EMPTY_LOGS_BYTES
            self.truncated = False
            return records

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

    def _feed(self, pipe, data):
        if self.truncated:
            return  # keep reading, keep nothing
        buffer = pipe.partial + data
        lines = buffer.split(b"\n")
        pipe.partial = lines.pop()
        for line in lines:
            self.add(pipe.level, pipe.source, line.decode("utf-8", "replace"))
            if self.truncated:
                return
        while len(pipe.partial) > self.max_line_bytes:
            cut = self.max_line_bytes
            while cut > 0 and (pipe.partial[cut] & 0xC0) == 0x80:
                cut -= 1  # do not split a UTF-8 character
            cut = cut or self.max_line_bytes
            head, pipe.partial = pipe.partial[:cut], pipe.partial[cut:]
            self.add(pipe.level, pipe.source, head.decode("utf-8", "replace"))

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
                        self.add(pipe.level, pipe.source, line.decode("utf-8", "replace"))

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


def _bytes_pending(fd):
    raw = fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", raw)[0]


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


def reap_children():
    """Collect children that have exited. As PID 1 the runtime inherits every orphan of the
    function, and an unreaped one would hold a slot of the pids limit forever."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def count_tasks():
    """(other processes alive, threads of this process). Other processes are counted only as
    PID 1, that is inside a container, where /proc lists just the container's processes."""
    try:
        processes = 0
        if os.getpid() == 1:
            processes = sum(1 for name in os.listdir("/proc") if name.isdigit() and name != "1")
        return processes, len(os.listdir("/proc/self/task"))
    except OSError:
        return 0, 0  # no /proc: nothing to say


class Runtime:
    def __init__(self, max_log_bytes, function_dir, deps_dir, await_init=False):
        self.capture = LogCapture(max_log_bytes)
        self.function_dir = function_dir
        self.deps_dir = deps_dir
        self.await_init = await_init
        self.pid = os.getpid()
        self.own_threads = 0
        self.module = None
        self.import_error = None
        self.import_logs = []
        self.out_fd = -1
        self.err_fd = 2
        self.in_file = None
        self.current_id = None
        self.current_logs = []

    # -- start ----------------------------------------------------------------------------------

    def take_over_stdio(self):
        channel_fd = connect_channel(os.environ.get("PRATAI_SOCKET"))
        if channel_fd is None:
            self.out_fd = private_fd(1)
            self.in_file = os.fdopen(private_fd(0), "rb")
        else:
            self.out_fd = channel_fd
            self.in_file = os.fdopen(private_fd(channel_fd), "rb")
        self.err_fd = private_fd(2)  # for the runtime's own last words (see main)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.close(null_fd)

        pipes = [self.capture.redirect(1, "stdout", "INFO"), self.capture.redirect(2, "stderr", "ERROR")]
        streams = []
        for fd, pipe in zip((1, 2), pipes):
            stream = SyncedTextStream(
                io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8", errors="backslashreplace", line_buffering=True)
            stream.capture = self.capture
            stream.pipe = pipe
            stream.others = tuple(other for other in pipes if other is not pipe)
            streams.append(stream)
        self.capture.streams = streams
        sys.stdout, sys.stderr = streams
        sys.__stdout__, sys.__stderr__ = streams
        sys.stdin = sys.__stdin__ = open(os.devnull, "r")

        logger = logging.getLogger("pratai")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(CaptureHandler(self.capture))
        os.register_at_fork(after_in_child=self.capture.after_fork_in_child)
        # What runs now is ours (main thread and pipe readers): the baseline of `leftover`.
        self.own_threads = count_tasks()[1]

    def load_module(self, source=None):
        """Imports new_module: from the function folder, or from `source` (an init message)."""
        for directory in (self.deps_dir, self.function_dir):
            if directory in sys.path:
                sys.path.remove(directory)
            sys.path.insert(0, directory)  # function first, then its dependencies
        if os.path.isdir(self.function_dir):
            os.chdir(self.function_dir)
        try:
            if source is None:
                # __import__ rather than importlib.import_module: no extra frame in the traceback.
                self.module = __import__("new_module")
            else:
                self.module = self.module_from_source(source)
        except BaseException as exc:  # SyntaxError, ImportError, SystemExit at import: all reported per run
            self.import_error = describe_exception(exc)
        self.capture.sync(finish_lines=True)
        self.import_logs = self.capture.take()

    def module_from_source(self, source):
        """new_module made from its source, as if imported from the function folder: same
        __file__, same tracebacks (the source lines are served by linecache), nothing written to
        disk (the root is read-only and /tmp is the function's)."""
        path = os.path.join(self.function_dir, "new_module.py")
        module = types.ModuleType("new_module")
        module.__file__ = path
        # mtime None: linecache.checkcache keeps the entry although no such file exists.
        linecache.cache[path] = (len(source), None, source.splitlines(True), path)
        sys.modules["new_module"] = module
        try:
            exec(compile(source, path, "exec"), module.__dict__)
        except BaseException:
            del sys.modules["new_module"]
            raise
        return module

    # -- protocol -------------------------------------------------------------------------------

    def send(self, message, raw_response=None):
        line = json.dumps(message, separators=(",", ":"))
        if raw_response is not None:
            line = line[:-1] + ',"response":' + raw_response + "}"
        data = (line + "\n").encode("ascii")  # ensure_ascii: lone surrogates cannot break UTF-8
        view = memoryview(data)
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]

    def serve(self):
        self.send({"type": "ready", "runtime": RUNTIME_NAME, "python": platform.python_version(), "pid": os.getpid(), "protocol": PROTOCOL_VERSION})
        first_run = True
        for raw in self.in_file:
            raw = raw.strip()
            if not raw:
                continue
            try:
                message = json.loads(raw)
            except ValueError as exc:
                self.send({"type": "error", "message": "the line is not JSON: %s" % exc})
                continue
            if not isinstance(message, dict):
                self.send({"type": "error", "message": "expected a JSON object, got %s" % type(message).__name__})
                continue
            kind = message.get("type")
            request_id = message.get("id")
            if kind == "init":
                self.init(message)
                continue
            if kind != "run":
                error = {"type": "error", "message": "unknown message type %s" % json.dumps(kind)}
                if request_id is not None:
                    error["id"] = request_id
                self.send(error)
                continue
            if not isinstance(request_id, str) or not request_id:
                self.send({"type": "error", "message": "a run message needs a non-empty string id"})
                continue
            logs = self.import_logs if (first_run or self.import_error) else []
            first_run = False
            self.run(request_id, message.get("payload"), list(logs))
        os._exit(0)  # not sys.exit: user threads must not keep the container alive

    def init(self, message):
        """A prewarmed container gets its function: the module's source, imported now."""
        source = message.get("module")
        function_id = message.get("function_id")
        problem = None
        if not self.await_init:
            problem = "this container already has its function; init is accepted once, before any run"
        elif not isinstance(source, str):
            problem = "an init message needs the module's source as a string in `module`"
        elif function_id is not None and not isinstance(function_id, str):
            problem = "`function_id` must be a string"
        if problem is not None:
            error = {"type": "error", "message": problem}
            if message.get("id") is not None:
                error["id"] = message.get("id")
            self.send(error)
            return
        self.await_init = False
        if function_id:
            os.environ["PRATAI_FUNCTION_ID"] = function_id
        self.load_module(source)

    def run(self, request_id, payload, logs):
        if self.await_init:
            # No init came first: nothing to call (the runner sends init before the first run).
            self.import_error = {"type": "FunctionNotLoaded", "message": "this container was started without a function and got no init message", "traceback": ""}
            self.await_init = False
        self.capture.take()  # output between two requests belongs to neither
        self.current_id, self.current_logs = request_id, logs
        os.environ["PRATAI_REQUEST_ID"] = request_id
        started = time.perf_counter()
        try:
            outcome = self.call(payload)
        finally:
            self.current_id = None
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        reap_children()
        processes, threads = count_tasks()
        self.capture.sync(finish_lines=True)
        logs.extend(self.capture.take())
        result = {"type": "result", "id": request_id}
        raw_response = None
        if "error" in outcome:
            result["status"] = "failed"
            result["error"] = outcome["error"]
        else:
            result["status"] = "succeeded"
            raw_response = outcome["response"]
        result["logs"] = logs
        result["duration_ms"] = duration_ms
        # What main left running: the runner reuses a container only when nothing is.
        result["leftover"] = {"processes": processes, "threads": max(0, threads - self.own_threads)}
        self.send(result, raw_response)

    def send_logs_so_far(self, signum=None, frame=None):
        """SIGUSR1: the runner is about to kill a request that ran out of time and asks for its logs.

        Runs in the main thread between two bytecodes of the function, so it only reads: a copy
        of the records so far, without the capture lock (the interrupted code may hold it).
        """
        request_id = self.current_id
        if request_id is None:
            return
        logs = list(self.current_logs) + list(self.capture.records)
        self.send({"type": "logs", "id": request_id, "logs": logs})

    def call(self, payload):
        if self.import_error is not None:
            return {"error": self.import_error}
        try:
            value = self.module.main(payload)
            if _is_coroutine(value):
                import asyncio
                value = asyncio.run(value)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are the function's outcome too
            self.exit_if_forked(1)
            return {"error": describe_exception(exc)}
        self.exit_if_forked(0)
        try:
            return {"response": json.dumps(value, separators=(",", ":"), allow_nan=False)}
        except Exception as exc:  # TypeError, ValueError (NaN, circular), RecursionError
            return {"error": {
                "type": "ResponseNotSerializable",
                "message": clip("main returned a %s that is not JSON serializable: %s" % (type(value).__name__, exc)),
                "traceback": "",
            }}


    def exit_if_forked(self, code):
        """A process main forked that returns (or raises) into the runtime ends here: it must not
        answer the runner, read its messages or serve another request."""
        if os.getpid() != self.pid:
            os._exit(code)


def _is_coroutine(value):
    return type(value).__name__ == "coroutine" and hasattr(value, "send")


def read_settings():
    raw = os.environ.get("PRATAI_MAX_LOG_BYTES", "")
    max_log_bytes = DEFAULT_MAX_LOG_BYTES
    if raw != "":
        try:
            max_log_bytes = int(raw)
        except ValueError:
            max_log_bytes = 0
        if max_log_bytes <= 0:
            sys.stderr.write("pratai runtime: expected PRATAI_MAX_LOG_BYTES to be a positive integer, got %r\n" % raw)
            sys.exit(2)
    return {
        "max_log_bytes": max_log_bytes,
        "function_dir": os.environ.get("PRATAI_FUNCTION_DIR") or "/opt/pratai/function",
        "deps_dir": os.environ.get("PRATAI_DEPS_DIR") or "/opt/pratai/deps",
        "await_init": os.environ.get("PRATAI_AWAIT_INIT") == "1",
    }


def main():
    settings = read_settings()
    # As PID 1 in a container, SIGTERM is ignored unless handled: let `docker stop` end us at once.
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))
    runtime = Runtime(**settings)
    signal.signal(signal.SIGUSR1, runtime.send_logs_so_far)
    runtime.take_over_stdio()
    if not runtime.await_init:
        runtime.load_module()
    try:
        runtime.serve()
    except BrokenPipeError:
        os._exit(0)  # the runner went away
    except BaseException:
        # A bug of ours (or a signal between requests): say so on the container's real stderr,
        # which the runner keeps, since sys.stderr now feeds a pipe nobody will read.
        os.write(runtime.err_fd, ("pratai runtime crashed:\n" + traceback.format_exc()).encode("utf-8", "replace"))
        os._exit(70)


if __name__ == "__main__":
    main()
