"""The context a function's `main(payload, context)` gets: its context values, its secrets and
the request's facts, as the runner sent them in the `run` message (runtimes/README.md).

A context reads as a dict of the function's context values (FaaSpot's `context['DB_HOST']`);
secrets are only under `context.secrets`, so that `dict(context)`, `print(context)` or a logged
`context.values` never carries one.
"""

import inspect
import time
from collections.abc import Mapping


class Secrets(Mapping):
    """The function's secrets by name: `secrets['db_password']`. Its repr names them, never their values."""

    def __init__(self, values):
        self._values = dict(values)

    def __getitem__(self, name):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return "<secrets %s>" % ", ".join(sorted(self._values)) if self._values else "<secrets (none)>"


class OpenStack:
    """A token for the function's OpenStack identity (a function created with openstack_auth)."""

    __slots__ = ("auth_url", "token", "project_id", "region", "expires_at")

    def __init__(self, fields):
        self.auth_url = fields.get("auth_url")
        self.token = fields.get("token")
        self.project_id = fields.get("project_id")
        self.region = fields.get("region")
        self.expires_at = fields.get("expires_at")

    def __repr__(self):
        return "<openstack project %s at %s>" % (self.project_id, self.auth_url)


class Context(Mapping):
    """What a run knows beyond its payload. Mapping access is over `values`."""

    def __init__(self, request_id, fields):
        fields = fields if isinstance(fields, dict) else {}
        self.request_id = request_id
        self.values = _strings(fields.get("values"))
        self.secrets = Secrets(_strings(fields.get("secrets")))
        self.function_id = fields.get("function_id")
        self.function_name = fields.get("function_name")
        self.attempt = fields.get("attempt") if isinstance(fields.get("attempt"), int) else 1
        self.headers = _strings(fields.get("headers"))
        deadline_ms = fields.get("deadline_ms")
        # Epoch seconds, as time.time() reads them: the container shares the runner's clock.
        self.deadline = deadline_ms / 1000.0 if isinstance(deadline_ms, (int, float)) else None
        openstack = fields.get("openstack")
        self.openstack = OpenStack(openstack) if isinstance(openstack, dict) else None

    def remaining_time_ms(self):
        """Milliseconds left before the function's timeout kills the run (0 once past it)."""
        if self.deadline is None:
            return None
        return max(0, int((self.deadline - time.time()) * 1000))

    def __getitem__(self, key):
        return self.values[key]

    def __iter__(self):
        return iter(self.values)

    def __len__(self):
        return len(self.values)

    def __repr__(self):
        return "<context of request %s: %s>" % (self.request_id, ", ".join(sorted(self.values)) or "no values")


def _strings(value):
    if not isinstance(value, dict):
        return {}
    return {str(key): item for key, item in value.items() if isinstance(item, str)}


def wants_context(main):
    """How main takes a context: "positional" (two positional parameters or more:
    `main(payload, context)`, FaaSpot's `main(args, context)`), "keyword" (a keyword-only
    parameter named `context`), or None: `main(payload)`, called as before."""
    try:
        parameters = list(inspect.signature(main).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2:
        return "positional"
    if any(p.name == "context" and p.kind == p.KEYWORD_ONLY for p in parameters):
        return "keyword"
    return None
