"""What main leaves behind: children to reap, processes and threads still running."""

import os


def reap_children():
    """Collect children that have exited. As PID 1 the runtime inherits every orphan of the
    function, and an unreaped one would hold a slot of the pids limit forever."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def count_tasks():
    """(other processes alive, threads of this process). Other processes are counted only as
    PID 1, that is inside a container, where /proc lists just the container's processes."""
    try:
        processes = 0
        if os.getpid() == 1:
            processes = sum(1 for name in os.listdir("/proc") if name.isdigit() and name != "1")
        return processes, len(os.listdir("/proc/self/task"))
    except OSError:
        return 0, 0  # no /proc: nothing to say
