"""Helpers the Python benchmark scripts share (imported from the scripts'
own folder, which Python puts on the path of a script it runs)."""
import os


def du(path):
    """Bytes of every file under path."""
    total = 0
    for dp, _, fs in os.walk(path):
        for f in fs:
            total += os.path.getsize(os.path.join(dp, f))
    return total
