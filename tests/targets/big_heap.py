"""Target with a large heap for the "the paused target always resumes" tests (issue #7).

Builds N GC-tracked objects (`-X leakspy_objects=N`, default 1,500,000: slotted instances, so
~100 MB; an -X option because the harness passes interpreter options only), starts two
threads blocked on an Event (more threads to stop and resume), writes one line ("ready <pid>") to
stdout, then echoes every line it reads on stdin back to stdout and exits on EOF. The harness kills
leakspy at random moments of a dump and then checks that this process is still running and answers.
"""

import os
import sys
import threading


class Cell(object):
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


def idle(ev):
    ev.wait()


def main():
    n = int(sys._xoptions.get("leakspy_objects", 1500000))
    cells = [Cell(i) for i in range(n)]
    stop = threading.Event()
    threads = [threading.Thread(target=idle, args=(stop,), name="idle-%d" % k) for k in range(2)]
    for t in threads:
        t.start()
    out = sys.stdout
    out.write("ready %d %d\n" % (os.getpid(), len(cells)))
    out.flush()
    for line in sys.stdin:
        out.write(line)
        out.flush()
    stop.set()


main()
