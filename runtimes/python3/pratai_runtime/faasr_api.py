"""The FaaSr API of a running workflow action, over pratai_runtime.storage: what FaaSr_py's
client stubs import and what is put into an action's globals."""

import logging
import uuid

from . import storage

_current = {}
_logger = logging.getLogger("pratai")


class FaaSrReturn(BaseException):
    """faasr_return(value): ends the action with value as its result (BaseException: a function's
    `except Exception` does not swallow it)."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def begin(spec):
    _current.clear()
    _current.update(spec)


def end():
    _current.clear()


def faasr_put_file(local_file, remote_file, server_name="", local_folder=".", remote_folder="."):
    return storage.put_file(local_file, remote_file, server_name, local_folder, remote_folder)


def faasr_get_file(local_file, remote_file, server_name="", local_folder=".", remote_folder="."):
    return storage.get_file(local_file, remote_file, server_name, local_folder, remote_folder)


def faasr_delete_file(remote_file, server_name="", remote_folder=""):
    return storage.delete_file(remote_file, server_name, remote_folder)


def faasr_get_folder_list(server_name="", prefix="", faasr_prefix=None):
    return storage.list_files(server_name, faasr_prefix if faasr_prefix is not None else prefix)


def faasr_log(msg):
    # The action's log: kept with its request, and written to {Action}.txt in the logging data store when it ends.
    _logger.info("%s", msg)


def faasr_rank():
    return {"max_rank": int(_current.get("max_rank", 1)), "rank": int(_current.get("rank", 1))}


def faasr_invocation_id():
    return _current.get("invocation_id") or str(uuid.uuid4())


def faasr_get_s3_creds(server_name=""):
    return storage.credentials(server_name)


def faasr_secret(name):
    return storage.secret(name)


def faasr_return(value=None):
    raise FaaSrReturn(value)


def faasr_exit(message=None, error=True):
    if message:
        _logger.error("%s", message)
    raise SystemExit(message or "faasr_exit")


INJECTED = {
    name: value
    for name, value in dict(globals()).items()
    if name.startswith("faasr_") and callable(value)
}
