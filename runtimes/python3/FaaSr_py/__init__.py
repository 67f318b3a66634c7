"""FaaSr_py as Pratai provides it: the client API of a workflow action (FaaSr_py.client.py_client_stubs),
served by the runner (pratai_runtime.faasr_api). The FaaSr orchestration itself is Pratai's."""

from .client.py_client_stubs import *  # noqa: F401,F403
from .client.py_client_stubs import __all__  # noqa: F401
