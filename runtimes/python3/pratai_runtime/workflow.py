"""Runs one action of a workflow: the generated new_module.py of a workflow's hidden function
hands its payload here (common/workflows/code.ts writes it).

The workflow's .py files are unpacked once per container under /tmp (the only writable place) and
put on sys.path, so its modules import each other. Each run gets an empty working folder of its
own, where local files go. The FaaSr API names are put into the module's globals (FaaSr does so:
some functions use them without importing), then FunctionName(**Arguments) is called; what it
returns (or passes to faasr_return) is the action's result, which picks a True/False branch.
"""

import base64
import importlib
import json
import os
import shutil
import sys
import tempfile

from . import faasr_api

CODE_ROOT = os.path.join(tempfile.gettempdir(), "pratai-workflow-code")


def _unpack(files, digest):
    folder = os.path.join(CODE_ROOT, digest)
    if not os.path.isdir(folder):
        staging = tempfile.mkdtemp(prefix="staging-", dir=tempfile.gettempdir())
        for path, encoded in files.items():
            target = os.path.join(staging, *path.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(base64.b64decode(encoded))
        os.makedirs(CODE_ROOT, exist_ok=True)
        os.rename(staging, folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return folder


def _json_safe(value):
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def run_action(payload, files, modules, digest):
    spec = (payload or {}).get("pratai_workflow") if isinstance(payload, dict) else None
    if not isinstance(spec, dict):
        raise ValueError("expected the payload of a workflow action ({\"pratai_workflow\": {...}}), got %r" % (payload,))
    _unpack(files, digest)
    function_name = spec["function"]
    module = importlib.import_module(modules[function_name])
    function = getattr(module, function_name)
    faasr_api.begin(spec)
    for name, value in faasr_api.INJECTED.items():
        module.__dict__.setdefault(name, value)
    home = os.getcwd()
    workdir = tempfile.mkdtemp(prefix="pratai-action-")
    os.chdir(workdir)
    try:
        try:
            result = function(**(spec.get("arguments") or {}))
        except faasr_api.FaaSrReturn as returned:
            result = returned.value
    finally:
        os.chdir(home)
        shutil.rmtree(workdir, ignore_errors=True)
        faasr_api.end()
    if spec.get("conditional") and not isinstance(result, bool):
        raise TypeError("action %s leads to a True/False branch: expected %s to return True or False, got %r" % (spec["action"], function_name, result))
    return {"action": spec["action"], "rank": spec["rank"], "result": _json_safe(result)}
