"""Redis key names.

A lead's keys carry a hash tag (the part in braces) so that they share one Redis Cluster slot: the
store's scripts, which write a batch of leads at once, are split by slot on a cluster (see
``streams.state.redis_store``) and still see each lead's record and outbox together.

Lead ids are the producers' ids, whatever their characters, and a brace inside the tag would end it
early and scatter a lead's keys over two slots. So:

- an id with no brace is the tag as it is, ``{prefix}:lead:{id}``: keys stay readable in
  ``redis-cli``, and every key written before this rule keeps its name;
- an id with a brace is percent-encoded (UTF-8, every byte but letters, digits and ``_.-~``) and
  the key ends with ``~`` after the tag, ``{prefix}:lead:{%7Dx}~``. No key of the first kind ends
  with ``~``, so the two kinds never meet and every key names exactly one id.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, unquote

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

ENCODED = "~"  # follows the tag of an encoded id

# Checkpoint groups on Redis Cluster: group n's checkpoint lives in a slot of the n-th of as many
# equal slot ranges (16 slots each). Every primary holding a whole range (any primary of a cluster
# that `redis-cli --cluster create` or a rebalance made) keeps its checkpoints in the first group
# it holds.
CHECKPOINT_GROUPS = 1024


def _needs_encoding(lead_id: str) -> bool:
    return "{" in lead_id or "}" in lead_id


def tagged(lead_id: str) -> str:
    """The hash tag and its marker: ``{id}`` or ``{percent-encoded id}~``."""
    if _needs_encoding(lead_id):
        return f"{{{quote(lead_id, safe='')}}}{ENCODED}"
    return f"{{{lead_id}}}"


def untagged(tail: str) -> str | None:
    """The lead id of a key's tagged tail (what :func:`tagged` made), or None for another shape."""
    if tail.endswith("}" + ENCODED) and tail.startswith("{"):
        try:
            return unquote(tail[1 : -1 - len(ENCODED)], errors="strict")
        except UnicodeDecodeError:
            return None
    if tail.endswith("}") and tail.startswith("{") and not _needs_encoding(tail[1:-1]):
        return tail[1:-1]
    return None


@cache
def checkpoint_tags() -> tuple[str, ...]:
    """One hash tag per checkpoint group, the n-th hashing into the n-th range of slots."""
    width = REDIS_CLUSTER_HASH_SLOTS // CHECKPOINT_GROUPS
    tags: dict[int, str] = {}
    n = 0
    while len(tags) < CHECKPOINT_GROUPS:
        tag = f"ck{n}"
        tags.setdefault(key_slot(tag.encode()) // width, tag)
        n += 1
    return tuple(tags[g] for g in range(CHECKPOINT_GROUPS))


@cache
def checkpoint_slots() -> tuple[int, ...]:
    """The slot of each checkpoint group."""
    return tuple(key_slot(tag.encode()) for tag in checkpoint_tags())


def glob_escape(text: str) -> str:
    """``text`` matched literally inside a Redis SCAN pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def lead(self, lead_id: str) -> str:
        """String: the lead's version, per-model state and summary, and recent history."""
        return f"{self.prefix}:lead:{tagged(lead_id)}"

    def outbox(self, lead_id: str) -> str:
        """Messages a change of the lead produced that Kafka has not acknowledged yet."""
        return f"{self.prefix}:out:{tagged(lead_id)}"

    @property
    def lead_head(self) -> str:
        """What every lead key starts with, before its tag."""
        return f"{self.prefix}:lead:"

    def lead_id_of(self, key: bytes | str) -> str | None:
        """The lead id a lead key names; None for any other key."""
        text = key.decode() if isinstance(key, bytes) else key
        if not text.startswith(self.lead_head):
            return None
        return untagged(text[len(self.lead_head) :])

    def lead_patterns(self, id_prefix: str = "") -> list[str]:
        """SCAN patterns that together match the lead keys whose ids start with ``id_prefix``."""
        head = glob_escape(self.lead_head)
        patterns = [f"{head}{{{glob_escape(quote(id_prefix, safe=''))}*}}{ENCODED}"]
        if not _needs_encoding(id_prefix):
            patterns.insert(0, f"{head}{{{glob_escape(id_prefix)}*}}")
        return patterns

    @property
    def visitors(self) -> Keys:
        """The keys of anonymous visitors' records: a lead store of their own, under
        ``{prefix}:visitor`` (see ``streams.worker.identity``)."""
        return Keys(f"{self.prefix}:visitor")

    @property
    def accounts(self) -> Keys:
        """The keys of accounts' records: a lead store of their own, under ``{prefix}:account``
        (see ``streams.worker.accounts``), each account under its own hash tag."""
        return Keys(f"{self.prefix}:account")

    @property
    def cooling(self) -> str:
        """Sorted set: hot lead id -> the time (epoch seconds) its score decays below re-arm."""
        return f"{self.prefix}:cooling"

    @property
    def offsets(self) -> str:
        """Hash: ``topic:partition`` -> the next offset whose effects are not all in Redis yet."""
        return f"{self.prefix}:offsets"

    @property
    def scored_by(self) -> str:
        """String: the models (name@version, ...) that last scored every stored lead."""
        return f"{self.prefix}:scored-by"

    def group_offsets(self, group: int) -> str:
        """On Redis Cluster, group ``group``'s checkpoints (``topic:partition`` -> next offset).

        Each primary keeps checkpoints that cover only its own writes: see
        ``RedisLeadStore.finish``.
        """
        return f"{self.prefix}:offsets:{{{checkpoint_tags()[group]}}}"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this deployment."""
        return f"{self.prefix}:*"
