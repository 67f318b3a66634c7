"""Coordination from inside a function: the project's tree of nodes (ZooKeeper's semantics), through
the runner over the container's channel, with FaaSKeeper's client method names and the recipes of
kazoo.

    from pratai_runtime.coordination import Client, Lock, Counter

    def main(payload):
        zk = Client()
        with Lock(zk, "/app/lock"):
            ...
        return Counter(zk, "/app/count").add(1)

Each request has a session of its own for its run: its ephemeral nodes (a lock, a leader) are
deleted when the run ends, however it ends.

Watches are callbacks called once with a WatchedEvent(type, path, zxid). Every reply of the runner
carries the events pending for the session, which are dispatched before the call returns (so a
read that shows a change comes after its event's callback); while watches are outstanding, a
background thread asks the runner for events every POLL_SECONDS, since the runner writes nothing
but replies (calls go one at a time: a long poll would hold the others back).
"""

import base64
import threading
import time

from .calls import CALLS, CallError, call

POLL_SECONDS = 0.02


class CoordinationError(CallError):
    """A coordination call refused with ZooKeeper's name for the reason (`type`)."""


class NoNodeError(CoordinationError):
    pass


class NodeExistsError(CoordinationError):
    pass


class BadVersionError(CoordinationError):
    pass


class NotEmptyError(CoordinationError):
    pass


class NoChildrenForEphemeralsError(CoordinationError):
    pass


class SessionExpiredError(CoordinationError):
    pass


class BadArgumentsError(CoordinationError):
    pass


ERRORS = {cls.__name__[: -len("Error")]: cls for cls in (NoNodeError, NodeExistsError, BadVersionError, NotEmptyError, NoChildrenForEphemeralsError, SessionExpiredError, BadArgumentsError)}


class ZnodeStat:
    """A node's stat, under ZooKeeper's (and kazoo's) names and Pratai's."""

    def __init__(self, stat):
        self.raw = dict(stat)
        self.czxid = stat["czxid"]
        self.mzxid = stat["mzxid"]
        self.pzxid = stat["pzxid"]
        self.version = stat["version"]
        self.cversion = stat["cversion"]
        self.ctime = stat["ctime"]
        self.mtime = stat["mtime"]
        self.ephemeral_owner = self.ephemeralOwner = stat["ephemeral_owner"]
        self.num_children = self.numChildren = stat["num_children"]
        self.data_length = self.dataLength = stat["data_length"]

    def __repr__(self):
        return "ZnodeStat(%r)" % (self.raw,)


class WatchedEvent:
    """A fired watch: `type` is NodeCreated, NodeDeleted, NodeDataChanged or NodeChildrenChanged."""

    def __init__(self, event):
        self.type = event["type"]
        self.path = event["path"]
        self.zxid = event["zxid"]
        self.state = "CONNECTED"

    def __repr__(self):
        return "WatchedEvent(%s, %s, zxid=%d)" % (self.type, self.path, self.zxid)


def _encode(value):
    if value is None:
        value = b""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(bytes(value)).decode("ascii")


class Client:
    """The function's coordination client. Methods as FaaSKeeper's (and kazoo's) clients name them."""

    def __init__(self):
        self._watches = {}  # (path, "data" | "child") -> [callback]
        self._lock = threading.Lock()
        self._poller = None

    # -- the calls -------------------------------------------------------------------------
    def _call(self, method, **args):
        try:
            reply = call("coordination", method, **args)
        except CallError as exc:
            cls = ERRORS.get(exc.type)
            if cls is not None:
                raise cls(exc.type, exc.args[0] if exc.args else "") from None
            raise
        self._dispatch(reply.get("events") or [])
        return reply.get("value")

    def _dispatch(self, events):
        for event in events:
            with self._lock:
                callbacks = self._watches.pop((event["path"], event["watch"]), [])
            watched = WatchedEvent(event)
            for callback in callbacks:
                callback(watched)

    def _watch(self, path, kind, callback):
        if callback is None:
            return False
        with self._lock:
            self._watches.setdefault((path, kind), []).append(callback)
            if self._poller is None or not self._poller.is_alive():
                run = CALLS.runtime.current_id if CALLS.runtime is not None else None
                self._poller = threading.Thread(target=self._poll, args=(run,), name="pratai-coordination-watches", daemon=True)
                self._poller.start()
        return True

    def _unwatch(self, path, kind, callback):
        with self._lock:
            callbacks = self._watches.get((path, kind), [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                self._watches.pop((path, kind), None)

    def _poll(self, run):
        """Asks for events while watches are outstanding, during the run that set them."""
        while True:
            time.sleep(POLL_SECONDS)
            with self._lock:
                if not self._watches:
                    return
            runtime = CALLS.runtime
            if runtime is None or runtime.current_id != run:
                return
            try:
                self._call("events")
            except CallError:
                return

    # -- FaaSKeeper's and kazoo's methods -----------------------------------------------------
    def session_id(self):
        return self._call("session")["session_id"]

    def create(self, path, value=b"", ephemeral=False, sequence=False, makepath=False):
        """Creates a node; returns its path (a sequential one's, with its counter)."""
        if makepath:
            parent = path.rsplit("/", 1)[0]
            if parent:
                self.ensure_path(parent)
        return self._call("create", path=path, data=_encode(value), ephemeral=ephemeral, sequential=sequence)["path"]

    def ensure_path(self, path):
        """Creates the path's missing nodes (empty, persistent)."""
        prefix = ""
        for name in [n for n in path.split("/") if n]:
            prefix += "/" + name
            try:
                self.create(prefix)
            except NodeExistsError:
                pass
        return True

    def get_data(self, path, watch=None):
        """(data, ZnodeStat); `watch` is called once on the node's next set or deletion."""
        watching = self._watch(path, "data", watch)
        try:
            value = self._call("get", path=path, watch=watching)
        except CoordinationError:
            if watching:
                self._unwatch(path, "data", watch)
            raise
        return base64.b64decode(value["data"]), ZnodeStat(value["stat"])

    get = get_data

    def exists(self, path, watch=None):
        """ZnodeStat or None; `watch` is called once on its next creation, set or deletion."""
        watching = self._watch(path, "data", watch)
        stat = self._call("exists", path=path, watch=watching)["stat"]
        return None if stat is None else ZnodeStat(stat)

    def get_children(self, path, watch=None, include_data=False):
        """The children's names, sorted; `watch` is called once when one is created or deleted, or the node deleted."""
        watching = self._watch(path, "child", watch)
        try:
            value = self._call("children", path=path, watch=watching)
        except CoordinationError:
            if watching:
                self._unwatch(path, "child", watch)
            raise
        if include_data:
            return value["children"], ZnodeStat(value["stat"])
        return value["children"]

    def set_data(self, path, value, version=-1):
        """Sets the data when the node is at `version` (-1: any); returns the new ZnodeStat."""
        return ZnodeStat(self._call("set", path=path, data=_encode(value), version=version)["stat"])

    set = set_data

    def delete(self, path, version=-1, recursive=False):
        if recursive:
            try:
                for child in self.get_children(path):
                    self.delete(path.rstrip("/") + "/" + child, recursive=True)
            except NoNodeError:
                return True
        self._call("delete", path=path, version=version)
        return True

    def multi(self, ops):
        """Applies all or none of ops: dicts {"op": "create" | "set" | "delete" | "check", "path": ..., ...}."""
        encoded = []
        for op in ops:
            op = dict(op)
            if "data" in op or op.get("op") in ("create", "set"):
                op["data"] = _encode(op.get("data"))
            encoded.append(op)
        return self._call("multi", ops=encoded)

    def transaction(self):
        return Transaction(self)


class Transaction:
    """kazoo's transaction: collect creates, sets, deletes and checks; commit() applies them all or none."""

    def __init__(self, client):
        self.client = client
        self.ops = []

    def create(self, path, value=b"", ephemeral=False, sequence=False):
        self.ops.append({"op": "create", "path": path, "data": value, "ephemeral": ephemeral, "sequential": sequence})

    def set_data(self, path, value, version=-1):
        self.ops.append({"op": "set", "path": path, "data": value, "version": version})

    def delete(self, path, version=-1):
        self.ops.append({"op": "delete", "path": path, "version": version})

    def check(self, path, version):
        self.ops.append({"op": "check", "path": path, "version": version})

    def commit(self):
        return self.client.multi(self.ops)


def _sequence(name):
    return int(name[-10:])


class Lock:
    """A mutual-exclusion lock (kazoo's Lock): ephemeral sequential contenders under `path`, the lowest holds it."""

    PREFIX = "lock-"

    def __init__(self, client, path, identifier=""):
        self.client = client
        self.path = path.rstrip("/")
        self.identifier = identifier
        self.node = None
        self.is_acquired = False

    def _contenders(self):
        return sorted((c for c in self.client.get_children(self.path) if c.startswith(self.PREFIX)), key=_sequence)

    def acquire(self, blocking=True, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        self.client.ensure_path(self.path)
        if self.node is None:
            self.node = self.client.create(self.path + "/" + self.PREFIX, self.identifier, ephemeral=True, sequence=True)
        name = self.node.rsplit("/", 1)[1]
        while True:
            contenders = self._contenders()
            index = contenders.index(name)
            if index == 0:
                self.is_acquired = True
                return True
            if not blocking:
                self._give_up()
                return False
            gone = threading.Event()
            if self.client.exists(self.path + "/" + contenders[index - 1], watch=lambda event: gone.set()) is None:
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not gone.wait(remaining):
                self._give_up()
                return False

    def _give_up(self):
        try:
            self.client.delete(self.node)
        except NoNodeError:
            pass
        self.node = None

    def release(self):
        if self.node is not None:
            self._give_up()
        self.is_acquired = False
        return True

    def contenders(self):
        """The identifiers of the contenders, the holder first."""
        return [self.client.get_data(self.path + "/" + c)[0].decode("utf-8") for c in self._contenders()]

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class Election:
    """A leader election (kazoo's Election): run(func) waits to be leader, then calls func while leading."""

    def __init__(self, client, path, identifier=""):
        self.lock = Lock(client, path, identifier)

    def run(self, func, *args, **kwargs):
        with self.lock:
            return func(*args, **kwargs)

    def contenders(self):
        return self.lock.contenders()

    def cancel(self):
        self.lock.release()


class Counter:
    """A shared counter (kazoo's Counter): compare-and-set on the node's version, retried on BadVersion."""

    def __init__(self, client, path, default=0):
        self.client = client
        self.path = path
        self.default = default
        self._ensured = False

    def _ensure(self):
        if not self._ensured:
            try:
                self.client.create(self.path, str(self.default), makepath=True)
            except NodeExistsError:
                pass
            self._ensured = True

    @property
    def value(self):
        self._ensure()
        data, _ = self.client.get_data(self.path)
        return int(data) if data else self.default

    def add(self, delta):
        """Adds `delta` atomically; returns the new value."""
        self._ensure()
        while True:
            data, stat = self.client.get_data(self.path)
            value = (int(data) if data else self.default) + delta
            try:
                self.client.set_data(self.path, str(value), version=stat.version)
                return value
            except BadVersionError:
                continue

    def __add__(self, delta):
        self.add(delta)
        return self

    def __sub__(self, delta):
        self.add(-delta)
        return self


class Barrier:
    """A barrier (kazoo's Barrier): create() raises it, remove() lifts it, wait() blocks while it stands."""

    def __init__(self, client, path):
        self.client = client
        self.path = path

    def create(self):
        self.client.ensure_path(self.path)

    def remove(self):
        try:
            self.client.delete(self.path)
            return True
        except NoNodeError:
            return False

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            lifted = threading.Event()
            if self.client.exists(self.path, watch=lambda event: lifted.set()) is None:
                return True
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not lifted.wait(remaining):
                return False


class DoubleBarrier:
    """A double barrier (kazoo's DoubleBarrier): enter() waits for `num_clients`, leave() waits for all to leave."""

    READY = "ready"

    def __init__(self, client, path, num_clients, identifier=None):
        self.client = client
        self.path = path.rstrip("/")
        self.num_clients = num_clients
        self.identifier = identifier
        self.node = None

    def _participants(self, watch=None):
        return [c for c in self.client.get_children(self.path, watch=watch) if c != self.READY]

    def enter(self):
        self.client.ensure_path(self.path)
        self.node = self.client.create(self.path + "/" + (self.identifier or "member-"), ephemeral=True, sequence=self.identifier is None)
        while True:
            ready = threading.Event()
            if self.client.exists(self.path + "/" + self.READY, watch=lambda event: ready.set()) is not None:
                return True
            if len(self._participants()) >= self.num_clients:
                try:
                    self.client.create(self.path + "/" + self.READY)
                except NodeExistsError:
                    pass
                return True
            ready.wait(1.0)

    def leave(self):
        if self.node is not None:
            self.client.delete(self.node)
            self.node = None
        while True:
            changed = threading.Event()
            if not self._participants(watch=lambda event: changed.set()):
                try:
                    self.client.delete(self.path + "/" + self.READY)
                except NoNodeError:
                    pass
                return True
            changed.wait(1.0)
