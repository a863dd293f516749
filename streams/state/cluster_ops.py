"""The lead store's batch operations on Redis Cluster: one script call per node, all nodes at once.

A batch of 500 leads spans about 500 hash slots, and a command per slot costs the client a
pipeline entry to pack and parse per lead. So each node gets one script
call covering all the leads it serves (scripts flagged ``allow-cross-slot-keys``, which Redis 7
allows for keys the node serves itself), and the calls go to every node concurrently. When the
slot map the client holds is out of date (a slot moved, a replica was promoted), the node refuses
the call whole, before writing anything, and that node's share goes again as one command per slot
through :func:`~.cluster_batch.run_by_node`, which follows MOVED and ASK. A node that does not
answer at all (killed, failing over) fails the whole step: the slot map is asked for again and
the worker retries the batch, which may by then go to the replica that took over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from streams.state.cluster_batch import (
    UNREACHABLE,
    SlotCommand,
    refresh_slot_map,
    run_by_node,
    run_pipelined,
)
from streams.state.keys import Keys, checkpoint_slots
from streams.state.store import LeadWrite

_LUA = Path(__file__).with_name("lua")
COMMIT = _LUA.joinpath("commit.lua").read_bytes()
FINISH = _LUA.joinpath("finish.lua").read_bytes()
_NODE_LOAD = _LUA.joinpath("node_load.lua").read_bytes()
_NODE_COMMIT = _LUA.joinpath("node_prelude.lua").read_bytes() + COMMIT
_NODE_FINISH = _LUA.joinpath("node_finish.lua").read_bytes()

T = TypeVar("T")


@dataclass(slots=True)
class _Share(Generic[T]):
    """What one node serves of a batch: its slot groups, in order."""

    slots: list[int]
    groups: list[list[T]]

    @property
    def items(self) -> list[T]:
        return [item for group in self.groups for item in group]


class ClusterOps:
    """Load, commit and finish a batch on a cluster; see the module's docstring."""

    def __init__(self, client: RedisCluster, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.commit_sha = client.register_script(COMMIT).sha
        self.finish_sha = client.register_script(FINISH).sha
        self._shas = {body: client.register_script(body).sha for body in _SCRIPTS}
        self._homes: dict[str, int | None] | None = None  # see home_groups

    def forget_topology(self) -> None:
        """Look the checkpoint groups up again next time (the slot map may have changed)."""
        self._homes = None

    async def _shares(self, by_slot: Mapping[int, list[T]]) -> dict[str, _Share[T]]:
        await self.client.initialize()
        manager = self.client.nodes_manager
        cache = manager.slots_cache
        shares: dict[str, _Share[T]] = {}
        for slot, group in by_slot.items():
            nodes = cache.get(slot)
            node = nodes[0] if nodes else manager.get_node_from_slot(slot)
            share = shares.setdefault(node.name, _Share([], []))
            share.slots.append(slot)
            share.groups.append(group)
        return shares

    async def _per_node(
        self,
        by_slot: Mapping[int, list[T]],
        script: bytes,
        node_args: Callable[[list[T], str], list[Any]],
        slot_command: Callable[[int, list[T], str], SlotCommand],
    ) -> list[tuple[str, _Share[T], Any, list[Any] | None]]:
        """Per node: its name, its share, the node call's reply or (None and) per-slot replies."""
        shares = await self._shares(by_slot)
        sha = self._shas[script]
        calls = [
            SlotCommand(s.slots[0], ("EVALSHA", sha, 0, *node_args(s.items, name)), script)
            for name, s in shares.items()
        ]
        replies = await run_pipelined(self.client, calls)
        down = [r for r in replies if isinstance(r, UNREACHABLE)]
        if down:  # one slot at a time would retry each slot against the dead node: retry it all
            self.forget_topology()
            await refresh_slot_map(self.client)
            raise down[0]
        out: list[tuple[str, _Share[T], Any, list[Any] | None]] = []
        for (name, share), reply in zip(shares.items(), replies, strict=True):
            if isinstance(reply, Exception):  # out-of-date slot map: one command per slot
                self.forget_topology()
                groups = zip(share.slots, share.groups, strict=True)
                fallback = [slot_command(slot, group, name) for slot, group in groups]
                out.append((name, share, None, await run_by_node(self.client, fallback)))
            else:
                out.append((name, share, reply, None))
        return out

    async def load(self, by_slot: Mapping[int, list[str]]) -> dict[str, tuple[Any, Any]]:
        """Each lead's record and outbox (None for none)."""
        keys = self.keys

        def names(ids: list[str]) -> list[str]:
            return [k for i in ids for k in (keys.lead(i), keys.outbox(i))]

        found: dict[str, tuple[Any, Any]] = {}
        for _, share, reply, per_slot in await self._per_node(
            by_slot,
            _NODE_LOAD,
            lambda ids, _: names(ids),
            lambda slot, ids, _: SlotCommand(slot, ("MGET", *names(ids))),
        ):
            values = reply if per_slot is None else [v for r in per_slot for v in r]
            for n, lead_id in enumerate(share.items):
                found[lead_id] = (values[2 * n], values[2 * n + 1])
        return found

    async def commit(self, by_slot: Mapping[int, list[LeadWrite]]) -> list[str]:
        """Apply the writes; the ids of leads that changed under us (not written)."""
        conflicts: list[str] = []

        def per_slot_call(slot: int, writes: list[LeadWrite], _: str) -> SlotCommand:
            args = ("EVALSHA", self.commit_sha, 2 * len(writes), *_commit_args(self.keys, writes))
            return SlotCommand(slot, args, COMMIT)

        for _, share, reply, per_slot in await self._per_node(
            by_slot,
            _NODE_COMMIT,
            lambda writes, _: [2 * len(writes), *_commit_args(self.keys, writes)],
            per_slot_call,
        ):
            if per_slot is None:
                conflicts += [share.items[int(i) - 1].lead_id for i in reply]
            else:
                for group, found in zip(share.groups, per_slot, strict=True):
                    conflicts += [group[int(i) - 1].lead_id for i in found]
        return conflicts

    async def finish(
        self,
        sent: Mapping[str, bytes],
        offsets: Mapping[str, int],
        expected: Callable[[str], str],
    ) -> dict[str, str]:
        """Clear the sent outboxes and advance each node's checkpoints; each node's run id.

        ``expected(node)`` is the run id the checkpoints may advance on ('' for no check).
        """
        pairs: list[str | int] = [x for field, offset in offsets.items() for x in (field, offset)]
        by_slot: dict[int, list[tuple[str, str]]] = {}
        for lead_id in sent:
            slot = key_slot(self.keys.lead(lead_id).encode())
            by_slot.setdefault(slot, []).append(("out", lead_id))
        if offsets:
            for group in (await self.home_groups()).values():
                if group is not None:
                    key = self.keys.group_offsets(group)
                    by_slot.setdefault(checkpoint_slots()[group], []).append(("ck", key))

        def node_args(items: list[tuple[str, str]], node: str) -> list[Any]:
            checkpoints = [key for kind, key in items if kind == "ck"]
            boxes = [lead_id for kind, lead_id in items if kind == "out"]
            return [
                expected(node) if checkpoints else "",
                len(offsets) if checkpoints else 0,
                *(pairs if checkpoints else []),
                len(checkpoints),
                *checkpoints,
                *(self.keys.outbox(i) for i in boxes),
                *(sent[i] for i in boxes),
            ]

        def slot_command(slot: int, items: list[tuple[str, str]], node: str) -> SlotCommand:
            # finish.lua takes one checkpoint key: a slot holds at most one group's key
            checkpoints = [key for kind, key in items if kind == "ck"]
            boxes = [self.keys.outbox(i) for kind, i in items if kind == "out"]
            values = [sent[i] for kind, i in items if kind == "out"]
            n = len(offsets) if checkpoints else 0
            run_id = expected(node) if checkpoints else ""
            args = [run_id, n, *(pairs if n else []), *values]
            keys = [*checkpoints, *boxes]
            return SlotCommand(slot, ("EVALSHA", self.finish_sha, len(keys), *keys, *args), FINISH)

        run_ids: dict[str, str] = {}
        results = await self._per_node(by_slot, _NODE_FINISH, node_args, slot_command)
        for name, share, reply, per_slot in results:
            if any(kind == "ck" for kind, _ in share.items):
                if per_slot is None:
                    run_ids[name] = _text(reply)
                else:
                    ids = {
                        _text(r)
                        for group, r in zip(share.groups, per_slot, strict=True)
                        if any(kind == "ck" for kind, _ in group)
                    }
                    run_ids[name] = ids.pop() if len(ids) == 1 else "?"
        return run_ids

    async def home_groups(self) -> dict[str, int | None]:
        """Each primary's checkpoint group: the first whose slot it serves (None: it has none).

        Kept until :meth:`forget_topology`: looking up a thousand slots costs more than a batch's
        checkpoint writes.
        """
        if self._homes is not None:
            return self._homes
        await self.client.initialize()
        manager = self.client.nodes_manager
        homes: dict[str, int | None] = {n.name: None for n in self.client.get_primaries()}
        for group, slot in enumerate(checkpoint_slots()):
            name = manager.get_node_from_slot(slot).name
            if homes.get(name, 0) is None:
                homes[name] = group
        self._homes = homes
        return homes

    async def checkpoints(self) -> list[dict[str, int]]:
        """The checkpoints each primary keeps in its group; empty for a primary without one."""
        groups = list((await self.home_groups()).values())
        keys = [self.keys.group_offsets(g) for g in groups if g is not None]
        commands = [SlotCommand(key_slot(k.encode()), ("HGETALL", k)) for k in keys]
        replies = await run_by_node(self.client, commands)
        found = [{_text(k): int(v) for k, v in reply.items()} for reply in replies]
        return found + [{} for g in groups if g is None]


_SCRIPTS = (_NODE_LOAD, _NODE_COMMIT, _NODE_FINISH)


def _commit_args(keys: Keys, writes: Sequence[LeadWrite]) -> list[Any]:
    names: list[str] = []
    args: list[bytes | int] = []
    for w in writes:
        names += [keys.lead(w.lead_id), keys.outbox(w.lead_id)]
        args += [w.version, w.record, w.outbox]
    return [*names, *args]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
