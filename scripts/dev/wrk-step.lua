-- wrk script: POST /v1/simulations/{id}/step {"ticks": 1} spread over the simulations in
-- KAIROS_SIMS (comma-separated ids), key KAIROS_KEY. Counts statuses like wrk-run.lua.
local key = os.getenv("KAIROS_KEY")
local sims = {}
for id in string.gmatch(os.getenv("KAIROS_SIMS"), "[^,]+") do table.insert(sims, id) end
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
  counter = counter + 1
  local id = sims[((counter * 7 + thread_id * 13) % #sims) + 1]
  return wrk.format("POST", "/v1/simulations/" .. id .. "/step",
    { ["Content-Type"] = "application/json", ["X-Api-Key"] = key }, '{"ticks": 1}')
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
