"""The one free-port helper of the Python tests and the benchmark.

The receiver binds UDP and TCP on the same port, so a port is free only when
both are: under `ctest -j`, another test may hold either.
"""
import socket


def free_port(address="127.0.0.1"):
    """A port free for both UDP and TCP on ADDRESS a moment ago."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
             socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind((address, 0))
            port = t.getsockname()[1]
            try:
                u.bind((address, port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no port free for both UDP and TCP on {address}")
