"""Run llama-cpp-python's OpenAI-compatible server, and exit when the process that started it is gone.

``local_server`` stops the server it started on every normal exit, error and Ctrl-C. This wrapper
covers the one case it cannot: the parent being killed outright (SIGKILL, an OOM kill, a CI timeout),
which would otherwise leave an orphaned server holding a port and the model in memory.

Usage (what ``local_server`` runs): ``python -m ttc_plugins._server_child PARENT_PID -- <server args>``
"""

from __future__ import annotations

import os
import sys
import threading
import time


def _exit_when_orphaned(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)  # the parent is gone: nothing will ever ask this server anything again
        time.sleep(0.5)


def main() -> None:
    parent_pid = int(sys.argv[1])
    server_args = sys.argv[sys.argv.index("--") + 1 :]
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    from llama_cpp.server.__main__ import main as serve

    sys.argv = ["llama_cpp.server", *server_args]
    serve()


if __name__ == "__main__":
    main()
