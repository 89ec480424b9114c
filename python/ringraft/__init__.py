"""ringraft: a Raft engine (C++, io_uring) with state machines written in Python.

A node hosts Raft groups; each group's replicated state is a
:class:`StateMachine` subclass. The runtime calls its methods inline on the
shard thread that owns the group, holding the GIL only for the call (one
acquisition per batch of committed entries). :class:`Node` is asyncio-first::

    node = ringraft.Node.start(config, lambda group: MyMachine())
    result = await node.propose(1, b"set x 1")
    value = await node.read(1, b"x")

Every call has a blocking twin (``propose_sync``, ...). Errors are
:class:`RaftError` subclasses carrying the outcome (*refused*: nothing was
done, safe to retry; *unknown*: it may have been applied; *failed*: it was
not and will not be) and, for :class:`NotLeaderError`, the leader hint.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import weakref
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _ringraft  # noqa: F401  (the C++ core)
from ._ringraft import NativeKvMachine, SnapshotReader, SnapshotWriter, apply_stats

__all__ = [
    "StateMachine", "SnapshotWriter", "SnapshotReader", "Node", "Client",
    "RaftError", "RefusedError", "UnknownOutcomeError", "FailedError", "NotLeaderError",
    "config_to_toml", "add_voter", "add_learner", "promote", "remove", "parse_metrics",
    "NativeKvMachine", "apply_stats",
]


# ---------------------------------------------------------------------------
# Errors.

class RaftError(Exception):
    """A request failed. Attributes: ``code`` (an absl status code name such
    as ``"FAILED_PRECONDITION"``), ``message``, ``outcome`` (``"refused"``,
    ``"unknown"`` or ``"failed"``), ``leader_id`` (0 if none known) and
    ``leader_address`` ("" if unknown)."""

    def __init__(self, code: str, message: str, outcome: str,
                 leader_id: int = 0, leader_address: str = "") -> None:
        super().__init__(f"{code}: {message} (outcome {outcome})")
        self.code = code
        self.message = message
        self.outcome = outcome
        self.leader_id = leader_id
        self.leader_address = leader_address


class RefusedError(RaftError):
    """Nothing was proposed or done: safe to retry as is."""


class UnknownOutcomeError(RaftError):
    """It may have been applied (or may still be): a retry may apply it twice."""


class FailedError(RaftError):
    """It was not and will not be applied; retrying as is fails again."""


class NotLeaderError(RefusedError):
    """This node does not lead the group; ``leader_id`` / ``leader_address``
    name the leader when known."""


def _error_from(t: Tuple[str, str, str, int, str]) -> RaftError:
    code, message, outcome, leader_id, leader_address = t
    if leader_id or message.startswith("not leader") or message == "no leader":
        cls: type = NotLeaderError
    else:
        cls = {"refused": RefusedError, "unknown": UnknownOutcomeError}.get(outcome, FailedError)
    return cls(code, message, outcome, leader_id, leader_address)


# ---------------------------------------------------------------------------
# State machines.

class StateMachine:
    """Base class of a replicated state machine written in Python.

    The runtime calls these methods on the shard thread owning the group, in
    log order, once entries are committed; they must be deterministic and
    must not block (from here use only the asynchronous Node calls, never
    ``*_sync`` ones or ``await``). An exception raised by ``apply`` (or a
    result that is not ``bytes``) halts the group on this node: the error,
    naming the index, is logged, shown in ``node.status()`` (``"halted"``)
    and returned to the waiting requests; the process goes on.
    """

    def apply(self, index: int, data: bytes) -> bytes:
        """Applies the committed entry at ``index``; the returned bytes go back
        to the proposer."""
        raise NotImplementedError("StateMachine.apply")

    def apply_batch(self, items: Sequence[Tuple[int, bytes]]) -> Sequence[bytes]:
        """Applies several entries ``[(index, data), ...]``; returns one result
        per item. Not overriding it is cheaper than overriding it with a loop:
        the runtime then calls ``apply`` per entry under one GIL acquisition.
        An override must raise before changing anything (all or nothing): the
        group halts at the batch's first index."""
        return [self.apply(i, d) for i, d in items]

    def query(self, data: bytes) -> bytes:
        """Answers a read-only query (reads). Raise KeyError for "not found"
        (a FailedError with code NOT_FOUND). The default refuses."""
        raise NotImplementedError("this state machine does not answer queries")

    def snapshot(self, writer: SnapshotWriter) -> None:
        """Writes the whole state with ``writer.write(chunk)`` (any number of
        chunks). Called between applies; an exception fails the snapshot only."""
        raise NotImplementedError("StateMachine.snapshot")

    def restore(self, reader: SnapshotReader) -> None:
        """Replaces the whole state with a snapshot's, read with
        ``reader.read(n)`` until it returns ``b""``."""
        raise NotImplementedError("StateMachine.restore")


# ---------------------------------------------------------------------------
# Config.

_SECTIONS = ("node", "raft", "snapshot", "storage", "network", "client", "sessions", "balance",
             "tls")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"config value {v!r} is not a bool, int, str or list")


def config_to_toml(config: Mapping[str, Any]) -> str:
    """The TOML text of a config dict with the node file's layout:
    ``{"node": {"id": 1, "address": ..., "data_dir": ...}, "raft": {...},
    "peers": [{"id": 1, "address": ...}, ...]}`` (see the README's
    configuration reference)."""
    lines = []
    for key in config:
        if key not in _SECTIONS and key != "peers":
            raise ValueError(f"config: unknown section {key!r} (sections: "
                             f"{', '.join(_SECTIONS)}, peers)")
    for section in _SECTIONS:
        if section not in config:
            continue
        lines.append(f"[{section}]")
        for k, v in config[section].items():
            lines.append(f"{k} = {_toml_value(v)}")
    for peer in config.get("peers", ()):
        lines.append("[[peers]]")
        for k, v in peer.items():
            lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _config_args(config: Union[Mapping[str, Any], str, os.PathLike]) -> Tuple[str, bool]:
    if isinstance(config, Mapping):
        return config_to_toml(config), False
    return os.fspath(config), True


# ---------------------------------------------------------------------------
# Membership changes: (kind, node, address) tuples.

def add_voter(node: int, address: str = "") -> Tuple[str, int, str]:
    """A change adding ``node`` (at ``address``) as a voter."""
    return ("add_voter", node, address)


def add_learner(node: int, address: str = "") -> Tuple[str, int, str]:
    """A change adding ``node`` (at ``address``) as a learner."""
    return ("add_learner", node, address)


def promote(node: int) -> Tuple[str, int, str]:
    """A change making learner ``node`` a voter."""
    return ("promote", node, "")


def remove(node: int) -> Tuple[str, int, str]:
    """A change removing ``node``."""
    return ("remove", node, "")


# ---------------------------------------------------------------------------
# Completions: the C++ side calls done(err, value) on its own thread with the
# GIL; the future is settled in its event loop with call_soon_threadsafe.

def _settle(fut: "asyncio.Future[Any]", err: Any, value: Any, convert: Callable[[Any], Any]) -> None:
    if fut.done():
        return
    if err is not None:
        fut.set_exception(_error_from(err))
    else:
        fut.set_result(convert(value))


def _identity(v: Any) -> Any:
    return v


# Each event loop watches the eventfd of one CompletionQueue (C++): the
# threads completing requests append there without the GIL, and the loop
# runs the completions (settling the futures) when the fd is readable.
_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = \
    weakref.WeakKeyDictionary()


def _queue(loop: asyncio.AbstractEventLoop) -> Any:
    q = _queues.get(loop)
    if q is None:
        q = _queues[loop] = _ringraft.CompletionQueue()
        loop.add_reader(q.fileno(), q.drain)
    return q


def _async_call(start: Callable[..., None], *args: Any,
                convert: Callable[[Any], Any] = _identity) -> "asyncio.Future[Any]":
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def done(err: Any, value: Any) -> None:  # On the loop's thread, from drain().
        _settle(fut, err, value, convert)

    start(*args, done, _queue(loop))
    return fut


def _blocking_call(start: Callable[..., None], *args: Any, timeout: Optional[float],
                   convert: Callable[[Any], Any] = _identity) -> Any:
    ev = threading.Event()
    box: list = []

    def done(err: Any, value: Any) -> None:
        box.append((err, value))
        ev.set()

    start(*args, done, None)  # No queue: done() runs on the completing thread.
    if not ev.wait(timeout):
        raise UnknownOutcomeError("DEADLINE_EXCEEDED", "no answer in time", "unknown")
    err, value = box[0]
    if err is not None:
        raise _error_from(err)
    return convert(value)


def _result_bytes(t: Tuple[int, int, bytes]) -> bytes:
    return t[2]


def parse_metrics(text: str) -> dict:
    """Prometheus text -> {"name" or "name{labels}": float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


_live_nodes: "weakref.WeakSet[Node]" = weakref.WeakSet()


_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # Shard and IO threads must not outlive the interpreter.
    for c in list(_live_clients):
        c.close()
    for n in list(_live_nodes):
        n.stop()


class Node:
    """One process's part of a cluster: the shard threads, the listener, the
    data dir and the groups hosted here.

    Create with :meth:`Node.start`. The ``async`` methods must be awaited in
    an event loop; their ``*_sync`` twins block (releasing the GIL) and must
    not be called from a state machine method. ``group`` is a Raft group id
    (``[node] groups`` in the config, ``[1]`` by default).
    """

    def __init__(self, core: Any) -> None:
        self._core = core
        _live_nodes.add(self)

    @staticmethod
    def start(config: Union[Mapping[str, Any], str, os.PathLike],
              state_machine_factory: Callable[[int], StateMachine]) -> "Node":
        """Opens (or creates) the data dir, restores every group and starts
        the shard threads. ``config`` is a dict laid out like the TOML file
        (see :func:`config_to_toml`) or the path of a TOML file.
        ``state_machine_factory(group)`` makes each group's state machine.
        A fresh data dir bootstraps from ``peers`` or joins through
        ``[node] join``. Raises ValueError for a bad config, RaftError if the
        node cannot start."""
        toml, is_path = _config_args(config)
        return Node(_ringraft.Node.start(toml, is_path, state_machine_factory))

    def stop(self) -> None:
        """Stops the node (waiting requests fail with CANCELLED). Idempotent."""
        self._core.stop()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def id(self) -> int:
        """This node's id."""
        return self._core.id()

    @property
    def address(self) -> str:
        """The bound listener address ("127.0.0.1:port")."""
        return self._core.address()

    def status(self) -> dict:
        """The node's status: {"node", "address", "groups": [...], ...}; a
        halted group says why in its "halted" field."""
        return json.loads(self._core.status_json())

    def group_status(self, group: int) -> dict:
        """The status dict of one group hosted here."""
        for g in self.status()["groups"]:
            if g["group"] == group:
                return g
        raise KeyError(group)

    def metrics(self) -> dict:
        """The node's metrics, {"ringraft_...": value} (Prometheus names)."""
        return parse_metrics(self._core.metrics_text())

    def metrics_text(self) -> str:
        """The node's metrics in the Prometheus text format."""
        return self._core.metrics_text()

    def leader(self, group: int) -> Tuple[int, str]:
        """(leader id, leader address) of a group as known here (0, "" if none)."""
        return self._core.leader(group)

    @property
    def leader_balance(self) -> bool:
        """Whether leader balance ([balance] leaders) is on."""
        return self._core.leader_balance()

    def set_leader_balance(self, on: bool) -> None:
        """Turns leader balance on or off at run time."""
        self._core.set_leader_balance(on)

    # ---- asyncio.
    async def propose(self, group: int, data: bytes) -> bytes:
        """Proposes ``data``; returns what the state machine's apply returned."""
        return await _async_call(self._core.propose_async, group, bytes(data),
                                 convert=_result_bytes)

    async def propose_entry(self, group: int, data: bytes) -> Tuple[int, int, bytes]:
        """Like propose, returning (index, term, result)."""
        return await _async_call(self._core.propose_async, group, bytes(data))

    async def read(self, group: int, query: bytes, linearizable: bool = True) -> bytes:
        """The state machine's answer to ``query``: linearizable (confirmed
        with the leader, from any member), or what this node has applied."""
        return await _async_call(self._core.read_async, group, bytes(query), linearizable)

    async def change_membership(self, group: int,
                                changes: Iterable[Tuple[str, int, str]]) -> dict:
        """Applies membership changes (:func:`add_voter`, :func:`add_learner`,
        :func:`promote`, :func:`remove`); returns the new configuration
        {"voters", "learners", ...}."""
        return await _async_call(self._core.change_membership_async, group, list(changes))

    async def leave(self, group: int = 1) -> dict:
        """Removes this node from the group (through the leader)."""
        return await _async_call(self._core.leave_async, group)

    async def transfer_leader(self, group: int, target: int) -> None:
        """Hands leadership of ``group`` to node ``target``."""
        await _async_call(self._core.transfer_leader_async, group, target)

    async def snapshot(self, group: int = 1) -> int:
        """Takes a snapshot now; returns the index it covers."""
        return await _async_call(self._core.snapshot_async, group)

    # ---- Blocking.
    def propose_sync(self, group: int, data: bytes) -> bytes:
        """Blocking :meth:`propose`."""
        return self._core.propose(group, bytes(data))[2]

    def read_sync(self, group: int, query: bytes, linearizable: bool = True) -> bytes:
        """Blocking :meth:`read`."""
        return self._core.read(group, bytes(query), linearizable)

    def change_membership_sync(self, group: int,
                               changes: Iterable[Tuple[str, int, str]]) -> dict:
        """Blocking :meth:`change_membership`."""
        return self._core.change_membership(group, list(changes))

    def leave_sync(self, group: int = 1) -> dict:
        """Blocking :meth:`leave`."""
        return self._core.leave(group)

    def transfer_leader_sync(self, group: int, target: int) -> None:
        """Blocking :meth:`transfer_leader`."""
        self._core.transfer_leader(group, target)

    def snapshot_sync(self, group: int = 1) -> int:
        """Blocking :meth:`snapshot`."""
        return self._core.snapshot(group)


class Client:
    """A client of a cluster for other processes (the native protocol, over
    the C++ AsyncClient): it finds the leader, follows hints, and retries
    what is safe to retry (outcome *refused*). ``addresses``: any members.
    With ``sessions`` (the default) every proposal goes in a client session
    and is exactly-once: one whose outcome is unknown (a lost answer, a
    leader change) is sent again until answered, and applied once."""

    def __init__(self, addresses: Sequence[str], cluster_id: int = 1,
                 request_timeout: float = 10.0, sessions: bool = True) -> None:
        self._core = _ringraft.AsyncClient(list(addresses), cluster_id,
                                           int(request_timeout * 1000), sessions)
        self._timeout = request_timeout + 5.0
        _live_clients.add(self)

    def close(self) -> None:
        """Closes the connections (requests in flight fail with CANCELLED)."""
        self._core.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def propose(self, group: int, data: bytes) -> bytes:
        """Proposes ``data`` to the group's leader; returns apply's result."""
        return await _async_call(self._core.propose_async, group, bytes(data),
                                 convert=_result_bytes)

    async def read(self, group: int, query: bytes, linearizable: bool = True) -> bytes:
        """The state machine's answer to ``query``."""
        return await _async_call(self._core.read_async, group, bytes(query), linearizable)

    async def change_membership(self, group: int,
                                changes: Iterable[Tuple[str, int, str]]) -> dict:
        """Membership changes through the leader; returns the new configuration."""
        return await _async_call(self._core.change_membership_async, group, list(changes))

    async def leave(self, group: int, node: int) -> dict:
        """Removes ``node`` from the group."""
        return await _async_call(self._core.leave_async, group, node)

    async def transfer_leader(self, group: int, target: int) -> None:
        """Hands leadership to ``target``."""
        await _async_call(self._core.transfer_leader_async, group, target)

    async def snapshot(self, group: int = 1) -> int:
        """Makes the leader take a snapshot; returns its index."""
        return await _async_call(self._core.snapshot_async, group)

    async def status(self, group: int = 1) -> dict:
        """The status of the group on the node that answers."""
        return await _async_call(self._core.status_async, group,
                                 convert=lambda b: json.loads(b))

    async def leader(self, group: int = 1) -> Tuple[int, str]:
        """(leader id, address) of the group."""
        return await _async_call(self._core.leader_async, group)

    def propose_sync(self, group: int, data: bytes) -> bytes:
        """Blocking :meth:`propose`."""
        return _blocking_call(self._core.propose_async, group, bytes(data),
                              timeout=self._timeout, convert=_result_bytes)

    def read_sync(self, group: int, query: bytes, linearizable: bool = True) -> bytes:
        """Blocking :meth:`read`."""
        return _blocking_call(self._core.read_async, group, bytes(query), linearizable,
                              timeout=self._timeout)

    def change_membership_sync(self, group: int,
                               changes: Iterable[Tuple[str, int, str]]) -> dict:
        """Blocking :meth:`change_membership`."""
        return _blocking_call(self._core.change_membership_async, group, list(changes),
                              timeout=self._timeout)

    def transfer_leader_sync(self, group: int, target: int) -> None:
        """Blocking :meth:`transfer_leader`."""
        _blocking_call(self._core.transfer_leader_async, group, target, timeout=self._timeout)

    def snapshot_sync(self, group: int = 1) -> int:
        """Blocking :meth:`snapshot`."""
        return _blocking_call(self._core.snapshot_async, group, timeout=self._timeout)

    def status_sync(self, group: int = 1) -> dict:
        """Blocking :meth:`status`."""
        return _blocking_call(self._core.status_async, group, timeout=self._timeout,
                              convert=lambda b: json.loads(b))

    def leader_sync(self, group: int = 1) -> Tuple[int, str]:
        """Blocking :meth:`leader`."""
        return _blocking_call(self._core.leader_async, group, timeout=self._timeout)
