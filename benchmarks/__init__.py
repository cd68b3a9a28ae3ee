"""roomkit's benchmarks: ``python -m benchmarks`` (``make bench``).

Real server processes on 127.0.0.1 (``roomkit serve``, a bare python-socketio
server, Node's socket.io), a load generator in separate processes, and a
results JSON that ``docs/benchmarks.md`` is generated from. See
:mod:`benchmarks.scenarios` for what is measured and how.
"""

__all__: list[str] = []
