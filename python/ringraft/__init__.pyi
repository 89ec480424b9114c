# Type stub of the ringraft package (python/ringraft/__init__.py).
import os
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

Change = Tuple[str, int, str]
Config = Union[Mapping[str, Any], str, os.PathLike]

class RaftError(Exception):
    """A request failed; carries code, message, outcome and the leader hint."""
    code: str
    message: str
    outcome: str
    leader_id: int
    leader_address: str
    def __init__(self, code: str, message: str, outcome: str, leader_id: int = ...,
                 leader_address: str = ...) -> None: ...

class RefusedError(RaftError):
    """Nothing was proposed or done: safe to retry as is."""

class UnknownOutcomeError(RaftError):
    """It may have been applied: a retry may apply it twice."""

class FailedError(RaftError):
    """It was not and will not be applied."""

class NotLeaderError(RefusedError):
    """This node does not lead the group; leader_id / leader_address when known."""

class SnapshotWriter:
    """Sink of a snapshot being taken (valid during StateMachine.snapshot)."""
    def write(self, data: bytes) -> None:
        """Appends bytes to the snapshot."""

class SnapshotReader:
    """Source of a snapshot being restored (valid during StateMachine.restore)."""
    @property
    def index(self) -> int:
        """Log index the snapshot covers (0 if unknown)."""
    def read(self, n: int = ...) -> bytes:
        """Reads up to n bytes; b'' at the end."""

class StateMachine:
    """Base class of a replicated state machine written in Python."""
    def apply(self, index: int, data: bytes) -> bytes:
        """Applies the committed entry at index; returns the proposer's result."""
    def apply_batch(self, items: Sequence[Tuple[int, bytes]]) -> Sequence[bytes]:
        """Applies several entries, all or nothing; one result per item."""
    def query(self, data: bytes) -> bytes:
        """Answers a read-only query; KeyError means not found."""
    def snapshot(self, writer: SnapshotWriter) -> None:
        """Writes the whole state through writer.write(chunk)."""
    def restore(self, reader: SnapshotReader) -> None:
        """Replaces the state with a snapshot's, read through reader.read(n)."""

class NativeKvMachine:
    """A C++ key-value state machine, for comparisons with a Python one."""
    def __init__(self) -> None: ...

def apply_stats(reset: bool = ...) -> dict:
    """Python state machines' apply totals: batches, entries, gil_wait_s, python_s."""
def config_to_toml(config: Mapping[str, Any]) -> str:
    """The TOML text of a config dict laid out like the node's TOML file."""
def add_voter(node: int, address: str = ...) -> Change:
    """A change adding node as a voter."""
def add_learner(node: int, address: str = ...) -> Change:
    """A change adding node as a learner."""
def promote(node: int) -> Change:
    """A change making learner node a voter."""
def remove(node: int) -> Change:
    """A change removing node."""
def parse_metrics(text: str) -> dict:
    """Prometheus text to {name: value}."""

class Node:
    """One process's part of a cluster; asyncio-first, with *_sync twins."""
    @staticmethod
    def start(config: Config, state_machine_factory: Callable[[int], StateMachine]) -> Node:
        """Opens the data dir, restores the groups and starts the shards."""
    def stop(self) -> None:
        """Stops the node. Idempotent."""
    def __enter__(self) -> Node: ...
    def __exit__(self, *exc: Any) -> None: ...
    @property
    def id(self) -> int:
        """This node's id."""
    @property
    def address(self) -> str:
        """The bound listener address."""
    def status(self) -> dict:
        """The node's status (groups, each with "halted")."""
    def group_status(self, group: int) -> dict:
        """One group's status dict."""
    def metrics(self) -> dict:
        """Metrics as {prometheus name: value}."""
    def metrics_text(self) -> str:
        """Metrics in the Prometheus text format."""
    def leader(self, group: int) -> Tuple[int, str]:
        """(leader id, address) as known here."""
    @property
    def leader_balance(self) -> bool:
        """Whether leader balance is on."""
    def set_leader_balance(self, on: bool) -> None:
        """Turns leader balance on or off at run time."""
    async def propose(self, group: int, data: bytes) -> bytes:
        """Proposes data; returns apply's result."""
    async def propose_entry(self, group: int, data: bytes) -> Tuple[int, int, bytes]:
        """Proposes data; returns (index, term, result)."""
    async def read(self, group: int, query: bytes, linearizable: bool = ...) -> bytes:
        """The state machine's answer to query."""
    async def change_membership(self, group: int, changes: Iterable[Change]) -> dict:
        """Applies membership changes; returns the configuration."""
    async def leave(self, group: int = ...) -> dict:
        """Removes this node from the group."""
    async def transfer_leader(self, group: int, target: int) -> None:
        """Hands leadership to target."""
    async def snapshot(self, group: int = ...) -> int:
        """Takes a snapshot; returns its index."""
    def propose_sync(self, group: int, data: bytes) -> bytes:
        """Blocking propose."""
    def read_sync(self, group: int, query: bytes, linearizable: bool = ...) -> bytes:
        """Blocking read."""
    def change_membership_sync(self, group: int, changes: Iterable[Change]) -> dict:
        """Blocking change_membership."""
    def leave_sync(self, group: int = ...) -> dict:
        """Blocking leave."""
    def transfer_leader_sync(self, group: int, target: int) -> None:
        """Blocking transfer_leader."""
    def snapshot_sync(self, group: int = ...) -> int:
        """Blocking snapshot."""

class Client:
    """A client of a cluster for other processes (native protocol)."""
    def __init__(self, addresses: Sequence[str], cluster_id: int = ...,
                 request_timeout: float = ..., sessions: bool = ...) -> None: ...
    def close(self) -> None:
        """Closes the client."""
    def __enter__(self) -> Client: ...
    def __exit__(self, *exc: Any) -> None: ...
    async def propose(self, group: int, data: bytes) -> bytes:
        """Proposes data; returns apply's result."""
    async def read(self, group: int, query: bytes, linearizable: bool = ...) -> bytes:
        """The state machine's answer to query."""
    async def change_membership(self, group: int, changes: Iterable[Change]) -> dict:
        """Membership changes through the leader."""
    async def leave(self, group: int, node: int) -> dict:
        """Removes node from the group."""
    async def transfer_leader(self, group: int, target: int) -> None:
        """Hands leadership to target."""
    async def snapshot(self, group: int = ...) -> int:
        """Makes the leader take a snapshot."""
    async def status(self, group: int = ...) -> dict:
        """The group's status on the answering node."""
    async def leader(self, group: int = ...) -> Tuple[int, str]:
        """(leader id, address)."""
    def propose_sync(self, group: int, data: bytes) -> bytes:
        """Blocking propose."""
    def read_sync(self, group: int, query: bytes, linearizable: bool = ...) -> bytes:
        """Blocking read."""
    def change_membership_sync(self, group: int, changes: Iterable[Change]) -> dict:
        """Blocking change_membership."""
    def transfer_leader_sync(self, group: int, target: int) -> None:
        """Blocking transfer_leader."""
    def snapshot_sync(self, group: int = ...) -> int:
        """Blocking snapshot."""
    def status_sync(self, group: int = ...) -> dict:
        """Blocking status."""
    def leader_sync(self, group: int = ...) -> Tuple[int, str]:
        """Blocking leader."""
