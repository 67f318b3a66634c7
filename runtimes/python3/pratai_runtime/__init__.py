"""Pratai's python3 runtime: the program inside every function container.

It loads the user's `new_module` once and answers `run` messages from the runner, one after the
other, over line-delimited JSON (runtimes/README.md is the contract). Python 3.9+, stdlib only.
A prewarmed container starts without a function (PRATAI_AWAIT_INIT=1) and gets its module's
source in an `init` message before its first `run`.

Two promises shape the package:
- Only the channel (channel.py) writes protocol lines. The container's real stdout is kept on a
  private, non-inheritable descriptor; fd 1 and fd 2 become pipes that we read (stdio.py), so
  whatever the user's code (or its subprocesses, or C extensions) writes there becomes log
  records, never protocol lines. Likewise fd 0 is replaced by /dev/null so user code cannot
  swallow the runner's messages.
- Logs are bounded (capture.py). A function printing 100 MB must neither block (the pipe readers
  keep reading and discarding) nor grow our memory past roughly PRATAI_MAX_LOG_BYTES.

The entry point (/opt/pratai/runtime.py) imports every module of the package before the function
folder and its dependencies go on sys.path (loader.py), so none of the function's modules can
stand in for one of ours; keep imports between our modules at module level for that reason.
"""
