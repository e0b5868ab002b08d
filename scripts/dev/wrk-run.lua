-- wrk script: POST /v1/simulations/run with a fixed body (KAIROS_BODY_FILE) and key (KAIROS_KEY).
-- Counts statuses so the summary can prove every request succeeded.
local key = os.getenv("KAIROS_KEY")
local f = assert(io.open(os.getenv("KAIROS_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = key

-- With KAIROS_DISTINCT=1 the body must hold "seed":SEED; every request then gets its own seed,
-- so no two requests name the same computation (the server's run memo never hits).
local distinct = os.getenv("KAIROS_DISTINCT") == "1"
local threads = {}
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
  counter = 0
end
function request()
  if not distinct then return wrk.format() end
  counter = counter + 1
  local seed = tostring(counter * 64 + thread_id + 1000)
  return wrk.format(nil, nil, nil, (body:gsub('"seed":SEED', '"seed":' .. seed)))
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do total[k] = (total[k] or 0) + v end
  end
  local keys = {}
  for k in pairs(total) do table.insert(keys, k) end
  table.sort(keys)
  for _, k in ipairs(keys) do io.write(string.format("status %d: %d\n", k, total[k])) end
  io.write(string.format("requests/s: %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
