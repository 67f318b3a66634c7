"""Module loading: the function's new_module, from its folder or from an init message's source."""

import linecache
import os
import sys
import types

from .errors import describe_exception


def load_module(function_dir, deps_dir, source=None):
    """(new_module, None), or (None, the error that stopped its import)."""
    for directory in (deps_dir, function_dir):
        if directory in sys.path:
            sys.path.remove(directory)
        sys.path.insert(0, directory)  # function first, then its dependencies
    if os.path.isdir(function_dir):
        os.chdir(function_dir)
    try:
        if source is None:
            # __import__ rather than importlib.import_module: no extra frame in the traceback.
            return __import__("new_module"), None
        return module_from_source(function_dir, source), None
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit at import: all reported per run
        # Left out: this frame, and module_from_source's when the source came in an init message.
        return None, describe_exception(exc, skip_frames=1 if source is None else 2)


def module_from_source(function_dir, source):
    """new_module made from its source, as if imported from the function folder: same
    __file__, same tracebacks (the source lines are served by linecache), nothing written to
    disk (the root is read-only and /tmp is the function's)."""
    path = os.path.join(function_dir, "new_module.py")
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
