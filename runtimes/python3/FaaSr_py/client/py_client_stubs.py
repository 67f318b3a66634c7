"""FaaSr's client API, as FaaSr functions import it: `from FaaSr_py.client.py_client_stubs import faasr_put_file, ...`."""

from pratai_runtime.faasr_api import (  # noqa: F401
    faasr_delete_file,
    faasr_exit,
    faasr_get_file,
    faasr_get_folder_list,
    faasr_get_s3_creds,
    faasr_invocation_id,
    faasr_log,
    faasr_rank,
    faasr_return,
    faasr_secret,
    faasr_put_file,
)

__all__ = [
    "faasr_put_file",
    "faasr_get_file",
    "faasr_delete_file",
    "faasr_get_folder_list",
    "faasr_log",
    "faasr_rank",
    "faasr_invocation_id",
    "faasr_get_s3_creds",
    "faasr_secret",
    "faasr_return",
    "faasr_exit",
]
