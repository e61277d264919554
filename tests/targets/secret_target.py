"""Target holding a secret for the "object contents are never printed" test (issue #7).

A random secret string (made at run time, so it is in no source file) is kept as a module global, as
a dict key and value, as an instance attribute, as bytes, as a local variable of a thread blocked in a
call, and in the main thread's frame. The ready line on stdout is JSON: {"pid": ..., "secret": ...}.
Then the main thread echoes stdin lines until EOF.
"""

import json
import os
import sys
import threading

SECRET = "leakspy-secret-" + os.urandom(12).hex()
SECRET_BYTES = SECRET.encode() + b"-bytes"
REGISTRY = {SECRET: "value", "key": SECRET + "-as-value"}


class Holder(object):
    def __init__(self, s):
        self.token = s


HOLDER = Holder(SECRET + "-attr")


def keep_local(ev, started):
    token = SECRET + "-local"  # noqa: F841 (held by this frame while it blocks)
    started.set()
    ev.wait()


def main():
    local_secret = SECRET + "-main"  # noqa: F841
    stop, started = threading.Event(), threading.Event()
    t = threading.Thread(target=keep_local, args=(stop, started), name="holder")
    t.start()
    started.wait()
    out = sys.stdout
    out.write(json.dumps({"pid": os.getpid(), "secret": SECRET}) + "\n")
    out.flush()
    for line in sys.stdin:
        out.write(line)
        out.flush()
    stop.set()


main()
