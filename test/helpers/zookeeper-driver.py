"""Runs coordination scenarios (test/coordination-scenarios.ts) against a real ZooKeeper through
kazoo, and prints what ZooKeeper answered, in the shape the Pratai side of
test/coordination-zookeeper-reference.test.ts gives too.

stdin:  {"port": N, "scenarios": [{"name": ..., "sessions": ["a", ...], "steps": [...]}, ...]}
stdout: one list per scenario of one outcome per step:
        {"result": {...} | {"error": "NoNode"}, "events": {"a": [[type, path, kind], ...]}}

Requests go out as kazoo's protocol objects (what KazooClient's own methods send), not through
those methods: they normalise paths first (`//` and a trailing `/` dropped, `.` refused), and the
server alone must decide every outcome. After each step every open session is settled: a request
of its own answered (ZooKeeper sends a session its watch events before any later answer) and its
callbacks run, so that each event is counted at the step that fired it (or at the next settled
step, after a step with `"settle": false`).
"""
import json
import sys
import threading

from kazoo.client import KazooClient
from kazoo.exceptions import ZookeeperError
from kazoo.protocol.serialization import (CheckVersion, Create, Create2, Delete,
                                          Exists, GetChildren2, GetData,
                                          SetData, Transaction)
from kazoo.protocol.states import Callback
from kazoo.security import OPEN_ACL_UNSAFE

# kazoo's event types, by the names ZooKeeper (and Pratai) give them.
EVENTS = {"CREATED": "NodeCreated", "DELETED": "NodeDeleted",
          "CHANGED": "NodeDataChanged", "CHILD": "NodeChildrenChanged"}
TIMEOUT_S = 30


def error_name(error):
    """ZooKeeper's name of an error: NoNodeError -> NoNode."""
    name = type(error).__name__
    return name[:-len("Error")] if name.endswith("Error") else name


class Session:
    def __init__(self, port):
        self.client = KazooClient(hosts="127.0.0.1:%d" % port, timeout=10)
        self.client.start(timeout=TIMEOUT_S)
        self.id = self.client.client_id[0]
        self.open = True
        self.events = []
        # One callback per kind and path: ZooKeeper holds one watch of a kind on a node for a
        # session however often it is set, and kazoo keeps its callbacks in sets.
        self.watchers = {}

    def watcher(self, kind, path):
        key = (kind, path)
        if key not in self.watchers:
            def fired(event, kind=kind):
                self.events.append([EVENTS[event.type], event.path, kind])
            self.watchers[key] = fired
        return self.watchers[key]

    def call(self, request):
        answer = self.client.handler.async_result()
        self.client._call(request, answer)
        return answer.get(timeout=TIMEOUT_S)

    def settle(self):
        """The events this session has been sent so far, each taken once."""
        self.call(Exists("/", None))
        # Callbacks run one at a time on kazoo's callback thread, in order: this one runs last.
        done = threading.Event()
        self.client.handler.dispatch_callback(Callback("watch", done.set, ()))
        done.wait(TIMEOUT_S)
        events, self.events = self.events, []
        return events

    def close(self):
        self.client.stop()
        self.client.close()
        self.open = False


def data_of(step):
    return step.get("data", "").encode()


def flags_of(step):
    return (1 if step.get("ephemeral") else 0) | (2 if step.get("sequential") else 0)


def run_scenario(port, scenario):
    sessions = {name: Session(port) for name in scenario["sessions"]}
    owners = {session.id: name for name, session in sessions.items()}

    def stat_of(stat):
        return {
            "czxid": stat.czxid, "mzxid": stat.mzxid, "pzxid": stat.pzxid,
            "version": stat.version, "cversion": stat.cversion,
            "num_children": stat.numChildren, "data_length": stat.dataLength,
            "ephemeral_owner": owners.get(stat.ephemeralOwner, str(stat.ephemeralOwner)) if stat.ephemeralOwner else None,
        }

    def op_of(op):
        kind, path, version = op["op"], op["path"], op.get("version", -1)
        if kind == "create":
            return Create(path, data_of(op), OPEN_ACL_UNSAFE, flags_of(op))
        if kind == "set":
            return SetData(path, data_of(op), version)
        if kind == "delete":
            return Delete(path, version)
        return CheckVersion(path, version)

    def op_result(result):
        if isinstance(result, ZookeeperError):
            return {"error": error_name(result)}
        if isinstance(result, str):
            return {"path": result}
        if result is True:
            return {}
        return {"stat": stat_of(result)}

    def run(step):
        session = sessions[step["s"]]
        kind, path = step["do"], step.get("path")
        watch = step.get("watch", False)
        if kind == "create":
            made, stat = session.call(Create2(path, data_of(step), OPEN_ACL_UNSAFE, flags_of(step)))
            return {"path": made, "stat": stat_of(stat)}
        if kind == "get":
            data, stat = session.call(GetData(path, session.watcher("data", path) if watch else None))
            return {"data": data.decode(), "stat": stat_of(stat)}
        if kind == "exists":
            stat = session.call(Exists(path, session.watcher("data", path) if watch else None))
            return {"stat": stat_of(stat) if stat else None}
        if kind == "children":
            children, stat = session.call(GetChildren2(path, session.watcher("child", path) if watch else None))
            return {"children": sorted(children), "stat": stat_of(stat)}
        if kind == "set":
            return {"stat": stat_of(session.call(SetData(path, data_of(step), step.get("version", -1))))}
        if kind == "delete":
            session.call(Delete(path, step.get("version", -1)))
            return {}
        if kind == "multi":
            return {"results": [op_result(result) for result in session.call(Transaction([op_of(op) for op in step["ops"]]))]}
        if kind == "close":
            session.close()
            return {}
        raise ValueError("unknown step %r" % kind)

    outcomes = []
    for step in scenario["steps"]:
        try:
            result = run(step)
        except ZookeeperError as error:
            result = {"error": error_name(error)}
        outcome = {"result": result}
        if step.get("settle") is False:
            outcomes.append(outcome)
            continue
        events = {name: events for name, events in ((name, session.settle()) for name, session in sessions.items() if session.open) if events}
        if events:
            outcome["events"] = events
        outcomes.append(outcome)
    for session in sessions.values():
        if session.open:
            session.close()
    return outcomes


def main():
    script = json.load(sys.stdin)
    json.dump([run_scenario(script["port"], scenario) for scenario in script["scenarios"]], sys.stdout)


if __name__ == "__main__":
    main()
