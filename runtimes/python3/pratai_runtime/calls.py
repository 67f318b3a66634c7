"""Calls from the function to the runner while it runs (protocol 5): the way in to what the
container itself cannot reach — object storage, coordination — since it has no network and no keys.

One call is one `call` line and one `reply` line. During a run the runner sends nothing else, so
the caller reads its reply from the channel itself; a lock lets one thread call at a time, which
keeps replies in the order of the calls. Other modules of the package build their services on
`call()`; a function may use it too: `from pratai_runtime.calls import call`.
"""

import json
import os
import threading


class CallError(Exception):
    """A call the runner answered with an error: `type` is its stable name (NoNode, NoSuchKey, ...)."""

    def __init__(self, type_, message):
        super().__init__(message)
        self.type = type_

    def __str__(self):
        return "%s: %s" % (self.type, self.args[0] if self.args else "")


class Calls:
    def __init__(self):
        self.lock = threading.Lock()
        self.runtime = None
        self.pid = os.getpid()
        self.counter = 0

    def attach(self, runtime):
        """The runtime whose channel and current run the calls use."""
        self.runtime = runtime

    def call(self, service, method, **args):
        runtime = self.runtime
        if runtime is None or runtime.channel is None or os.getpid() != self.pid:
            raise CallError("CallUnavailable", "the runner can be called only from the function's own process while it runs")
        request_id = runtime.current_id
        if request_id is None:
            raise CallError("CallUnavailable", "the runner can be called only while a request runs (not at import)")
        with self.lock:
            self.counter += 1
            number = self.counter
            message = {"type": "call", "id": request_id, "call": number, "service": service, "method": method, "args": args}
            runtime.channel.send(message)
            line = runtime.channel.in_file.readline()
            if not line:
                os._exit(0)  # the runner went away
        try:
            reply = json.loads(line)
        except ValueError:
            raise CallError("ProtocolError", "the runner's reply is not JSON")
        if not isinstance(reply, dict) or reply.get("type") != "reply" or reply.get("call") != number:
            raise CallError("ProtocolError", "expected the reply to call %d, got %s" % (number, line[:200]))
        error = reply.get("error")
        if isinstance(error, dict):
            raise CallError(str(error.get("type", "Error")), str(error.get("message", "")))
        return reply.get("result")


# One per process: the runtime attaches itself at start (main.py).
CALLS = Calls()


def call(service, method, **args):
    """Calls `method` of the runner's `service` with JSON arguments; returns its JSON result or raises CallError."""
    return CALLS.call(service, method, **args)
