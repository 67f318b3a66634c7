"""The request loop: the runtime's side of the protocol (runtimes/README.md), one message at a time."""

import json
import os
import platform
import time

from .capture import LogCapture
from .channel import encode
from .context import Context, wants_context
from .errors import clip, describe_exception
from .loader import load_module
from .processes import count_tasks, reap_children

RUNTIME_NAME = "python3"
# 2: init messages (prewarmed containers), `leftover` in results, PRATAI_REQUEST_ID per run.
# 3: the channel is the runner's Unix socket at PRATAI_SOCKET when there is one there.
# 4: `log` messages, streaming a run's records as they are kept, for a run that asks (stream_logs).
# 5: `call` messages, the function calling the runner's services while it runs (calls.py).
PROTOCOL_VERSION = 5
# Additions announced by name rather than by a new protocol number: "context", a run's `context`
# for main(payload, context).
FEATURES = ["context"]


class Runtime:
    def __init__(self, max_log_bytes, function_dir, deps_dir, await_init=False):
        self.capture = LogCapture(max_log_bytes)
        self.function_dir = function_dir
        self.deps_dir = deps_dir
        self.await_init = await_init
        self.pid = os.getpid()
        self.own_threads = 0
        self.module = None
        self.context_mode = None
        self.import_error = None
        self.import_logs = []
        self.channel = None
        self.current_id = None
        self.current_logs = []

    def started(self, channel):
        """The channel is open and stdio taken over: what runs now is ours (main thread and pipe
        readers), the baseline of `leftover`."""
        self.channel = channel
        self.own_threads = count_tasks()[1]

    def load_module(self, source=None):
        """Imports new_module: from the function folder, or from `source` (an init message)."""
        self.module, self.import_error = load_module(self.function_dir, self.deps_dir, source)
        main = getattr(self.module, "main", None)
        self.context_mode = wants_context(main) if callable(main) else None
        self.capture.sync(finish_lines=True)
        self.import_logs = self.capture.take()

    def send(self, message, raw_response=None):
        self.channel.send(message, raw_response)

    def serve(self):
        self.send({"type": "ready", "runtime": RUNTIME_NAME, "python": platform.python_version(), "pid": os.getpid(), "protocol": PROTOCOL_VERSION, "features": FEATURES})
        first_run = True
        for raw in self.channel:
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
            self.run(request_id, message.get("payload"), list(logs), message.get("stream_logs") is True, message.get("context"))
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

    def run(self, request_id, payload, logs, stream_logs=False, context=None):
        if self.await_init:
            # No init came first: nothing to call (the runner sends init before the first run).
            self.import_error = {"type": "FunctionNotLoaded", "message": "this container was started without a function and got no init message", "traceback": ""}
            self.await_init = False
        # Output between two requests belongs to neither; the import's is in `logs`, not streamed.
        self.capture.start(self.log_streamer(request_id) if stream_logs else None)
        self.current_id, self.current_logs = request_id, logs
        os.environ["PRATAI_REQUEST_ID"] = request_id
        started = time.perf_counter()
        try:
            outcome = self.call(payload, context if self.context_mode is None else Context(request_id, context))
        finally:
            self.current_id = None
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        reap_children()
        processes, threads = count_tasks()
        self.capture.sync(finish_lines=True)
        # Every streamed record is on the channel now, so they all come before the result.
        logs.extend(self.capture.finish())
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

    def log_streamer(self, request_id):
        """The capture's stream for one run: its records as `log` lines, one write per batch."""
        prefix = '{"type":"log","id":%s,"record":' % json.dumps(request_id)
        write = self.channel.write

        def stream(records):
            try:
                write("".join(prefix + json.dumps(record, separators=(",", ":")) + "}\n" for record in records).encode("ascii"))
            except BrokenPipeError:
                # The runner went away. Raised here it would surface in the function's print()
                # (or end a pipe reader): end as the request loop does.
                os._exit(0)

        return stream

    def send_logs_so_far(self, signum=None, frame=None):
        """SIGUSR1: the runner is about to kill a request that ran out of time and asks for its logs.

        Runs in the main thread between two bytecodes of the function, so it only reads: a copy
        of the records so far, without the capture lock (the interrupted code may hold it), and
        writes without waiting for the channel (the interrupted code may be mid-line).
        """
        request_id = self.current_id
        if request_id is None or self.channel is None:
            return
        logs = list(self.current_logs) + list(self.capture.records)
        self.channel.write_from_signal_handler(encode({"type": "logs", "id": request_id, "logs": logs}))

    def call(self, payload, context=None):
        if self.import_error is not None:
            return {"error": self.import_error}
        try:
            if self.context_mode == "positional":
                value = self.module.main(payload, context)
            elif self.context_mode == "keyword":
                value = self.module.main(payload, context=context)
            else:
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
