# ops/stack-cluster.sh — the Redis Cluster half of ops/stack (sourced by it, not run alone).
#
# With LEADSCORE_REDIS_CLUSTER_NODES=N (N primaries, 1 or at least 3) and
# LEADSCORE_REDIS_CLUSTER_REPLICAS=R (replicas per primary), `ops/stack up` also starts N*(1+R)
# cluster nodes from Debian's redis-server on ports LEADSCORE_REDIS_CLUSTER_PORT and up, with the
# same append-only file as the single Redis, joins them with `redis-cli --cluster create` the first
# time, and `ops/stack env` then names the cluster (every node of it). A node stopped (or killed) since is started again
# on its own data and rejoins by its nodes.conf: that is how the fault tests restart a primary.
# Each node's cluster bus listens on its port + 10000.

cluster_nodes=${LEADSCORE_REDIS_CLUSTER_NODES:-0}
cluster_replicas=${LEADSCORE_REDIS_CLUSTER_REPLICAS:-0}
cluster_port=${LEADSCORE_REDIS_CLUSTER_PORT:-17000}
cluster_dir=$stack_dir/redis-cluster

cluster_ports() {
  local total=$((cluster_nodes * (1 + cluster_replicas))) n
  for ((n = 0; n < total; n++)); do echo $((cluster_port + n)); done
}

cluster_pidfile() { echo "$cluster_dir/$1/redis.pid"; }

cluster_answers() { [[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]]; }

cluster_state_ok() {
  local port
  for port in $(cluster_ports); do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}

start_cluster_node() { # port
  local port=$1 data=$cluster_dir/$1
  if alive "$(cluster_pidfile "$port")" redis-server; then return; fi
  port_busy "$port" && fail "port $port is taken by a process ops/stack did not start; set LEADSCORE_REDIS_CLUSTER_PORT"
  mkdir -p "$data"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$data" \
    --daemonize yes --pidfile "$data/redis.pid" --logfile "$data/redis.log" \
    --cluster-enabled yes --cluster-config-file "$data/nodes.conf" --cluster-node-timeout 3000 \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes \
    || fail "cluster node $port refused to start; its log is $data/redis.log"
}

start_cluster() {
  ((cluster_nodes > 0)) || return 0
  ((cluster_nodes == 1 || cluster_nodes >= 3)) || fail "LEADSCORE_REDIS_CLUSTER_NODES must be 1 or at least 3 (redis-cli --cluster create wants three primaries)"
  ((cluster_nodes > 1 || cluster_replicas == 0)) || fail "a cluster of one primary takes no replicas"
  local port deadline=$((SECONDS + timeout)) created=$cluster_dir/.created
  for port in $(cluster_ports); do start_cluster_node "$port"; done
  for port in $(cluster_ports); do
    until cluster_answers "$port"; do
      ((SECONDS < deadline)) || fail "cluster node $port did not answer; its log is $cluster_dir/$port/redis.log"
      sleep 0.2
    done
  done
  if [[ ! -f $created ]]; then
    say "joining $cluster_nodes primaries with $cluster_replicas replicas each into a Redis Cluster"
    if ((cluster_nodes == 1)); then
      redis-cli -p "$cluster_port" cluster addslotsrange 0 16383 >/dev/null \
        || fail "assigning the slots to the one cluster node failed"
    else
      local hosts=()
      for port in $(cluster_ports); do hosts+=("127.0.0.1:$port"); done
      redis-cli --cluster create "${hosts[@]}" --cluster-replicas "$cluster_replicas" --cluster-yes \
        >"$cluster_dir/create.log" 2>&1 || fail "redis-cli --cluster create failed; see $cluster_dir/create.log"
    fi
    touch "$created"
  fi
  until cluster_state_ok; do
    ((SECONDS < deadline)) || fail "the Redis Cluster did not reach cluster_state:ok within ${timeout}s"
    sleep 0.3
  done
}

stop_cluster() {
  [[ -d $cluster_dir ]] || return 0
  local pidfile
  for pidfile in "$cluster_dir"/*/redis.pid; do
    [[ -f $pidfile ]] && stop_one "Redis cluster node $(basename "$(dirname "$pidfile")")" "$pidfile" redis-server
  done
  return 0
}

cluster_status() {
  ((cluster_nodes > 0)) || return 0
  if cluster_state_ok; then
    echo "redis cluster: ok, $cluster_nodes primaries x $((cluster_replicas + 1)) at redis://127.0.0.1:$cluster_port/0"
  else
    echo "redis cluster: not ok"; return 1
  fi
}

cluster_env() { # every node, so a client started while one is down still finds the cluster
  ((cluster_nodes > 0)) || return 0
  local port urls=()
  for port in $(cluster_ports); do urls+=("redis://127.0.0.1:$port/0"); done
  echo "export LEADSCORE_REDIS_URL=$(IFS=,; echo "${urls[*]}")"
  echo "export LEADSCORE_REDIS_CLUSTER=true"
}
