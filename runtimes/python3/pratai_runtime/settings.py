"""Settings: the environment variables of runtimes/README.md, read once at start."""

import os
import sys

DEFAULT_MAX_LOG_BYTES = 1024 * 1024


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
