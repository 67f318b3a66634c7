"""Start: settings, signals, the channel, stdio, the function, then the request loop until EOF."""

import os
import signal
import traceback

from .calls import CALLS
from .channel import Channel
from .server import Runtime
from .settings import read_settings
from .stdio import take_over_stdio


def main():
    settings = read_settings()
    # As PID 1 in a container, SIGTERM is ignored unless handled: let `docker stop` end us at once.
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))
    runtime = Runtime(**settings)
    signal.signal(signal.SIGUSR1, runtime.send_logs_so_far)
    channel = Channel.open(os.environ.get("PRATAI_SOCKET"))
    err_fd = take_over_stdio(runtime.capture)
    runtime.started(channel)
    CALLS.attach(runtime)
    if not runtime.await_init:
        runtime.load_module()
    try:
        runtime.serve()
    except BrokenPipeError:
        os._exit(0)  # the runner went away
    except BaseException:
        # A bug of ours (or a signal between requests): say so on the container's real stderr,
        # which the runner keeps, since sys.stderr now feeds a pipe nobody will read.
        os.write(err_fd, ("pratai runtime crashed:\n" + traceback.format_exc()).encode("utf-8", "replace"))
        os._exit(70)
