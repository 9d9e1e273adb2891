"""firmus_marker: send phase and token markers to a running `firmus record`.

Standard library only. Copy this file next to your workload or put
firmus/workloads on PYTHONPATH. Under `firmus record -- python app.py`:

    import firmus_marker as fm
    fm.start("prefill")
    ...                                  # run prefill
    fm.end("prefill")
    fm.start("decode")
    for step in ...:
        fm.tokens(batch_size)            # tokens made in this step (summed)
    fm.end("decode")
    fm.request_start(7); ...; fm.request_end(7, tokens=128)

Every marker carries time.monotonic_ns() (CLOCK_MONOTONIC on Linux, the
recorder's clock), so its position does not depend on when the recorder
reads it. Without a recorder (FIRMUS_MARK_FD and FIRMUS_MARK_SOCKET unset)
every function is a no-op and one warning is issued. The protocol is in
docs/MARKERS.md.
"""

import os
import socket
import stat
import time
import warnings

__all__ = ["start", "end", "tokens", "mark", "request_start", "request_end", "available"]

_MAX_LINE = 4096
_state = {"warned": False, "socket": None}


def _pipe_fd():
    """The inherited pipe, if FIRMUS_MARK_FD names one that is still a pipe here."""
    text = os.environ.get("FIRMUS_MARK_FD", "")
    if not text.isdigit():
        return None
    fd = int(text)
    try:
        return fd if stat.S_ISFIFO(os.fstat(fd).st_mode) else None
    except OSError:
        return None


def available():
    """True when a recorder channel is present."""
    return _pipe_fd() is not None or bool(os.environ.get("FIRMUS_MARK_SOCKET"))


def _send(line):
    line += " t_ns=%d\n" % time.monotonic_ns()
    data = line.encode("ascii")
    if len(data) > _MAX_LINE:
        raise ValueError("firmus marker line longer than %d bytes" % _MAX_LINE)
    fd = _pipe_fd()
    if fd is not None:
        os.write(fd, data)  # one write: atomic on a pipe up to PIPE_BUF
        return
    path = os.environ.get("FIRMUS_MARK_SOCKET")
    if path:
        if _state["socket"] is None:
            _state["socket"] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _state["socket"].sendto(data, path)
        return
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn("firmus_marker: no recorder (FIRMUS_MARK_FD/FIRMUS_MARK_SOCKET unset); "
                      "markers are ignored", RuntimeWarning, stacklevel=3)


def _name(name):
    name = str(name)
    if not name or len(name) > 63 or any(c.isspace() or c == "=" for c in name):
        raise ValueError("marker name must be 1-63 characters without blanks or '=': %r" % name)
    return name


def _count(value, what):
    value = int(value)
    if value < 0:
        raise ValueError("%s must be >= 0" % what)
    return value


def _extra(tokens=None, gpu=None):
    out = ""
    if tokens is not None:
        out += " tokens=%d" % _count(tokens, "tokens")
    if gpu is not None:
        out += " gpu=%d" % _count(gpu, "gpu")
    return out


def start(name, gpu=None):
    """A phase begins (e.g. "prefill", "decode")."""
    _send("start " + _name(name) + _extra(gpu=gpu))


def end(name, tokens=None, gpu=None):
    """A phase ends; tokens= (if given) is added to the run's tokens."""
    _send("end " + _name(name) + _extra(tokens, gpu))


def tokens(count):
    """count tokens were produced (summed into the run's tokens)."""
    _send("tokens %d" % _count(count, "tokens"))


def mark(name, tokens=None, gpu=None):
    """A named point in time."""
    _send("mark " + _name(name) + _extra(tokens, gpu))


def request_start(request_id):
    """A request (integer id) starts."""
    _send("request_start %d" % _count(request_id, "request id"))


def request_end(request_id, tokens=None):
    """A request ends; tokens= (if given) is added to the run's tokens."""
    _send("request_end %d" % _count(request_id, "request id") + _extra(tokens))
