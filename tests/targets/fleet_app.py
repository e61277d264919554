"""A tiny WSGI app for tests/fleet.rs (gunicorn, uWSGI): every request leaks one `Leak`.

After each request the worker writes its own count, "PID COUNT", to $FLEET_COUNT_DIR/PID (written
to a temporary file and renamed, so a reader never sees half a line). The test compares leakspy's
per-process count of `fleet_app.Leak` with these files. `FLEET_BALLAST=N` makes each process that
imports the app hold N small lists (a heap that takes a while to read).
"""

import os

LEAKS = []
BALLAST = [[i] for i in range(int(os.environ.get("FLEET_BALLAST", "0")))]


class Leak:
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n


def _record():
    directory = os.environ["FLEET_COUNT_DIR"]
    pid = os.getpid()
    tmp = os.path.join(directory, f".{pid}.tmp")
    with open(tmp, "w") as f:
        f.write(f"{pid} {len(LEAKS)}\n")
    os.replace(tmp, os.path.join(directory, str(pid)))


def app(environ, start_response):
    LEAKS.append(Leak(len(LEAKS)))
    _record()
    body = f"ok {os.getpid()} {len(LEAKS)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = app
