-- wrk script: PUT memstore's /store/{key} with a VALUE_SIZE-byte body, the
-- same shape as ../shared/peers/etcd/put.lua (keys bench-000000..NKEYS-1
-- (a "/" would split memstore's /store/{key}/{value} route)
-- walked by a prime stride from a random start per thread, 128-byte values,
-- the same RESULT line), so memstore and etcd meet the same client.
local nkeys = tonumber(os.getenv("NKEYS") or "100000")
local vsize = tonumber(os.getenv("VALUE_SIZE") or "128")
local prefix = os.getenv("PREFIX") or "bench-"
local idx = 0
local value

function init(args)
  value = string.rep("abcdefghijklmnopqrstuvwxyz012345", math.ceil(vsize / 32)):sub(1, vsize)
  wrk.method = "PUT"
  wrk.headers["Content-Type"] = "application/octet-stream"
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  idx = math.random(0, nkeys - 1)
end

local cache = {}
function request()
  idx = (idx + 7919) % nkeys
  local path = cache[idx]
  if not path then
    path = string.format("/store/%s%06d", prefix, idx)
    cache[idx] = path
  end
  return wrk.format(nil, path, nil, value)
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d secs=%.2f req/s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d sockerr=%d timeouts=%d\n",
    summary.requests, s, summary.requests / s,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout))
end
