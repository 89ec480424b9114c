# Sourced by bench/run_compare.sh: start and stop a local 3-node ringraft
# cluster (bench_node or memstore) under $BASE, every process by PID.
#   cluster_start KIND(bench|memstore) GROUPS SHARDS [FSM]
#   cluster_stop
# Sets NODE_PIDS (array), NODE_ADDRS (comma list), NODE_ARGS (--node PID:METRICS ...),
# HTTP_ADDRS (memstore only).
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
  rm -rf "$BASE"; mkdir -p "$BASE"
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
  # Serving once every node answers a TCP connect (bench_node also writes ready).
  for _ in $(seq 100); do
    local up=0
    for i in 1 2 3; do (exec 3<>/dev/tcp/127.0.0.1/$((PORT0 + i))) 2>/dev/null && up=$((up + 1)); done
    (( up == 3 )) && return 0
    sleep 0.1
  done
  echo "cluster did not come up; logs in $BASE" >&2
  return 1
}
