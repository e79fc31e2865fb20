"""``python -m tddkit``."""

import gc
import sys

from .cli.main import main

if __name__ == "__main__":
    code = main()
    # The process ends now: spare it the interpreter's last full garbage collection over every object
    # (about 20 ms). Python does not promise to run __del__ of objects still alive at exit either way;
    # atexit handlers, weakref finalizers and the flushing of stdout and stderr all still run.
    gc.freeze()
    sys.exit(code)
