# Sourced by bench/run_compare.sh: start and stop a local 3-node ringraft
# cluster (bench_node or memstore) under $BASE, every process by PID.
#   cluster_start KIND(bench|memstore) GROUPS SHARDS [FSM]
#   cluster_stop
# Sets NODE_PIDS (array), NODE_ADDRS (comma list), NODE_ARGS (--node PID:METRICS ...),
# HTTP_ADDRS (memstore only), STARTUP_S (seconds from the first process
# started until every node served: bench_node's ready file, else a TCP connect).
# EXTRA_TOML: text added to every node's config (e.g. $'[raft]\nquiesce_ticks = 0').
# KEEP_DATA=1: keep $BASE (a restart). START_WAIT_S (10): how long to wait for the nodes to serve.
# TLS=1: the nodes run with [tls] (mutual TLS; certificates made once with
# the openssl command under $BASE.tls) and LOADGEN_TLS_ARGS holds the
# loadgen's --cacert option.
BASE=${BASE:-/tmp/ringraft_bench}
TLS=${TLS:-0}
LOADGEN_TLS_ARGS=()

# Makes a CA and one certificate for 127.0.0.1 (shared by the three nodes
# and the load generator) in $BASE.tls, once.
tls_files() {
  local d=$BASE.tls
  [[ -s $d/node.pem ]] && return 0
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=ringraft bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bench node" \
    -keyout "$d/node.key" -out "$d/node.csr" 2>/dev/null
  printf "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n" >"$d/ext.cnf"
  openssl x509 -req -in "$d/node.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/ext.cnf" -out "$d/node.pem" 2>/dev/null
}
PORT0=${PORT0:-7100}
HTTP0=${HTTP0:-8100}
SNAPSHOT_EVERY=${SNAPSHOT_EVERY:-100000}
NODE_PIDS=()

cluster_stop() {
  local p
  for p in "${NODE_PIDS[@]:-}"; do [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${NODE_PIDS[@]:-}"; do
    [[ -n "$p" ]] || continue
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  NODE_PIDS=()
}

cluster_start() {
  local kind=$1 groups=$2 shards=$3 fsm=${4:-count} i glist peers
  cluster_stop
  # KEEP_DATA=1: restart on the data dirs of the previous cluster_start.
  if [[ ${KEEP_DATA:-0} == 1 ]]; then rm -f "$BASE"/n*/ready; else rm -rf "$BASE"; fi
  mkdir -p "$BASE"
  glist=$(seq -s, 1 "$groups")
  local tls_section=""
  LOADGEN_TLS_ARGS=()
  if [[ $TLS == 1 ]]; then
    tls_files
    tls_section=$'[tls]\nca_file = "'$BASE.tls/ca.pem$'"\ncert_file = "'$BASE.tls/node.pem$'"\nkey_file = "'$BASE.tls/node.key$'"'
    LOADGEN_TLS_ARGS=(--cacert "$BASE.tls/ca.pem")
  fi
  peers=""
  for i in 1 2 3; do peers+=$'\n'"[[peers]]"$'\n'"id = $i"$'\n'"address = \"127.0.0.1:$((PORT0 + i))\""; done
  NODE_ADDRS=""; NODE_ARGS=(); HTTP_ADDRS=()
  local t0; t0=$(date +%s.%N)
  for i in 1 2 3; do
    mkdir -p "$BASE/n$i"
    cat >"$BASE/n$i.toml" <<TOML
[node]
id = $i
address = "127.0.0.1:$((PORT0 + i))"
data_dir = "$BASE/n$i"
groups = [$glist]
shards = $shards
[snapshot]
every_entries = $SNAPSHOT_EVERY
[storage]
lmdb_map_size_bytes = 4294967296
${EXTRA_TOML:-}
$tls_section
$peers
TOML
    if [[ $kind == memstore ]]; then
      "$MEMSTORE" --config "$BASE/n$i.toml" --http "127.0.0.1:$((HTTP0 + i))" --log-level warn \
        >"$BASE/n$i.log" 2>&1 &
      HTTP_ADDRS+=("127.0.0.1:$((HTTP0 + i))")
      NODE_PIDS+=($!); NODE_ARGS+=(--node "$!:http://127.0.0.1:$((HTTP0 + i))/metrics")
    else
      "$BENCH_NODE" --config "$BASE/n$i.toml" --fsm "$fsm" >"$BASE/n$i.log" 2>&1 &
      NODE_PIDS+=($!); NODE_ARGS+=(--node "$!:$BASE/n$i")
    fi
    NODE_ADDRS+="${NODE_ADDRS:+,}127.0.0.1:$((PORT0 + i))"
  done
  # Serving once every node answers a TCP connect; bench_node writes its
  # ready file once every shard opened its groups and the node serves.
  for _ in $(seq $(( ${START_WAIT_S:-10} * 20 ))); do
    local up=0
    for i in 1 2 3; do
      if [[ $kind == bench ]]; then
        [[ -s $BASE/n$i/ready ]] && up=$((up + 1))
      else
        (exec 3<>/dev/tcp/127.0.0.1/$((PORT0 + i))) 2>/dev/null && up=$((up + 1))
      fi
    done
    if (( up == 3 )); then
      STARTUP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
      return 0
    fi
    sleep 0.05
  done
  echo "cluster did not come up; logs in $BASE" >&2
  return 1
}
