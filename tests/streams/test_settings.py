"""LEADSCORE_REDIS_URL: one Redis, or several nodes of a cluster; refused by name when ambiguous."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.cli.reach import redis_address
from streams.settings import Settings, redis_nodes

CLUSTER = "redis://:pa,ss@10.0.0.1:7000/0, redis://:pa,ss@10.0.0.2:7001/0,rediss://10.0.0.3:7002"


def test_a_cluster_url_names_each_node_and_a_comma_in_a_password_stays() -> None:
    assert redis_nodes(CLUSTER) == [
        "redis://:pa,ss@10.0.0.1:7000/0",
        "redis://:pa,ss@10.0.0.2:7001/0",
        "rediss://10.0.0.3:7002",
    ]
    assert redis_nodes("redis://:a,b@127.0.0.1:6379/2") == ["redis://:a,b@127.0.0.1:6379/2"]


def test_several_nodes_without_a_cluster_are_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(redis_url=CLUSTER, redis_cluster=False)
    assert "LEADSCORE_REDIS_URL names several nodes" in str(refused.value)
    assert "pa,ss" not in str(refused.value)
    assert Settings(redis_url=CLUSTER, redis_cluster=True).redis_url == CLUSTER


def test_the_address_of_several_nodes_leaves_every_password_out() -> None:
    assert redis_address(CLUSTER) == "10.0.0.1:7000/0, 10.0.0.2:7001/0, 10.0.0.3:7002/0"
