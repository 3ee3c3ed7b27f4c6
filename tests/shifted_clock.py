"""Run a Python module as `python -m` would, with the wall clock moved by an offset.

    TEST_CLOCK_SHIFT_SECONDS=8640000 python -m tests.shifted_clock celery -A config worker

Time cannot be frozen across processes, but every process of a test world (the
test itself, the Celery workers, the web server) can run the same distance
ahead of the real clock, ticking: so an end-to-end run can happen on the night
a time zone changes its clocks. time-machine moves the clock in this process;
forked children (Celery's pool) inherit it. Monotonic clocks are left alone.
"""

import os
import runpy
import sys
import time

import time_machine

SHIFT_VARIABLE = "TEST_CLOCK_SHIFT_SECONDS"


def main() -> None:
    shift = float(os.environ.get(SHIFT_VARIABLE) or 0)
    if shift:
        time_machine.travel(time.time() + shift, tick=True).start()
    module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
