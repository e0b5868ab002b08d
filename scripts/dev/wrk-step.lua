-- wrk script: POST /v1/simulations/{id}/step {"ticks": 1} spread over the simulations in
-- KAIROS_SIMS (comma-separated ids), key KAIROS_KEY. Counts statuses (wrk-statuses.lua).
dofile("scripts/dev/wrk-statuses.lua")
local key = os.getenv("KAIROS_KEY")
local sims = {}
for id in string.gmatch(os.getenv("KAIROS_SIMS"), "[^,]+") do table.insert(sims, id) end
function request()
  counter = counter + 1
  local id = sims[((counter * 7 + thread_id * 13) % #sims) + 1]
  return wrk.format("POST", "/v1/simulations/" .. id .. "/step",
    { ["Content-Type"] = "application/json", ["X-Api-Key"] = key }, '{"ticks": 1}')
end
