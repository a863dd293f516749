"""A batch of single-slot commands sent to Redis Cluster as one pipeline per node, all at once.

Why not redis-py's cluster pipeline: it resolves each command's routing policy with several awaits
per command, which on a batch of a thousand per-slot commands costs more client CPU than the round
trips it saves (measured, docs/scale-out.md). Here the route of each command is the slot the caller
already knows, looked up in the client's own slot map, and each node gets its commands in one
write. The cluster client stays in charge of the topology: a command that comes back with MOVED,
ASK, TRYAGAIN, a lost connection or an unknown script is sent again on its own through the client,
which follows the redirection and refreshes its slot map, and ``EVALSHA`` falls back to ``EVAL``
(a promoted replica has an empty script cache).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import ClusterNode, ClusterPipeline, PipelineCommand, RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "UNREACHABLE",
    "ClusterClient",
    "SlotCommand",
    "refresh_slot_map",
    "run_by_node",
    "run_pipelined",
]

# Errors after which the command is sent again alone, through the cluster client's own routing.
_RESEND = (
    AskError,
    MovedError,
    TryAgainError,
    ClusterDownError,
    NoScriptError,
    RedisConnectionError,
    RedisTimeoutError,
)


# Errors that say a node is down or failing over rather than that the slot map is out of date.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ClusterDownError, OSError)


class ClusterClient(RedisCluster):
    """redis-py's cluster client, with a connection closed under a command counted as lost.

    On a connection error, or a cluster that answers CLUSTERDOWN, the client disconnects a node's
    connections (or all of them) while other commands may be using them, e.g. the Redis watch's
    ``INFO`` and a rewind's checkpoint reads during a primary's restart. The command whose
    connection went then fails inside redis-py with AttributeError on the closed connection's
    writer or reader, which the worker would take for a bug and stop on (seen in a fault test).
    For the caller it is a lost connection like any other: retried.
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except AttributeError as exc:
            raise RedisConnectionError(f"connection closed under {args[0]!s}: {exc}") from exc

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        super().pipeline(transaction, shard_hint)  # its checks of the arguments
        return _Pipeline(self, transaction)  # type: ignore[abstract]  # the stub, not the class


class _Pipeline(ClusterPipeline):
    """The cluster client's pipeline (cooling schedule, expiries), likewise."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except AttributeError as exc:
            raise RedisConnectionError(f"connection closed under a pipeline: {exc}") from exc


async def refresh_slot_map(client: RedisCluster) -> None:
    """Ask the cluster for its slot map again (a primary died, a replica took its slots).

    The cluster client does this itself for the commands it sends; the pipelines sent here to a
    node directly bypass it. Failing to reach any node now is left to the caller's retry.
    """
    with contextlib.suppress(*UNREACHABLE):
        await client.nodes_manager.initialize()


@dataclass(frozen=True, slots=True)
class SlotCommand:
    """One command whose keys all lie in ``slot``; ``script`` is the body behind an EVALSHA."""

    slot: int
    args: tuple[Any, ...]
    script: bytes | None = None


async def run_by_node(client: RedisCluster, commands: Sequence[SlotCommand]) -> list[Any]:
    """Each command's reply, in order; raises the first error no resend could get past."""
    replies = await run_pipelined(client, commands)
    for n, reply in enumerate(replies):
        if isinstance(reply, Exception):
            replies[n] = await _alone(client, commands[n], reply)
    return replies


async def run_pipelined(client: RedisCluster, commands: Sequence[SlotCommand]) -> list[Any]:
    """Each command's reply or error, in order, from one pipeline per node and no resend alone.

    A node that lacks a script (restarted, promoted) gets the script calls once more as EVAL,
    still pipelined: EVAL also caches the script there for the next batch.
    """
    if not commands:
        return []
    await client.initialize()  # a no-op once the slot map is loaded
    queued = await _pipelined(client, commands)
    unknown = [n for n, cmd in enumerate(queued) if isinstance(cmd.result, NoScriptError)]
    if unknown:
        again = [_as_eval(commands[n]) for n in unknown]
        for n, cmd in zip(unknown, await _pipelined(client, again), strict=True):
            queued[n] = cmd
    return [cmd.result for cmd in queued]


async def _pipelined(
    client: RedisCluster, commands: Sequence[SlotCommand]
) -> list[PipelineCommand]:
    by_node: dict[str, tuple[ClusterNode, list[PipelineCommand]]] = {}
    queued: list[PipelineCommand] = []
    for n, command in enumerate(commands):
        node = client.nodes_manager.get_node_from_slot(command.slot)
        queued.append(PipelineCommand(n, *command.args))
        by_node.setdefault(node.name, (node, []))[1].append(queued[-1])
    await asyncio.gather(*(_send(node, cmds) for node, cmds in by_node.values()))
    return queued


def _as_eval(command: SlotCommand) -> SlotCommand:
    if command.script is None or command.args[0] != "EVALSHA":
        return command
    return SlotCommand(command.slot, ("EVAL", command.script, *command.args[2:]), command.script)


async def _send(node: ClusterNode, commands: list[PipelineCommand]) -> None:
    """One pipeline to one node; a failure of the whole pipeline marks each of its commands.

    redis-py closes a node's connections when it reloads its slot map (the cluster client does
    that on any command's connection error, e.g. the Redis watch's), also under a pipeline in
    flight, which then fails with AttributeError on the closed connection's writer: for the batch
    that is a lost connection like any other.
    """
    failure: Exception | None = None
    try:
        await node.execute_pipeline(commands)
    except _RESEND as exc:
        failure = exc
    except AttributeError as exc:
        failure = RedisConnectionError(f"connection to {node.name} closed under a pipeline: {exc}")
    if failure is not None:
        for cmd in commands:
            if cmd.result is None:  # not read back; one already read stands
                cmd.result = failure


async def _alone(client: RedisCluster, command: SlotCommand, error: BaseException) -> Any:
    """The command once more, routed by the client; an error that no resend helps is raised."""
    if not isinstance(error, _RESEND):
        raise error
    return await client.execute_command(*_as_eval(command).args)
