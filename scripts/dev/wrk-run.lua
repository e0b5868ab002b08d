-- wrk script: POST /v1/simulations/run with a fixed body (KAIROS_BODY_FILE) and key (KAIROS_KEY).
-- Counts statuses (wrk-statuses.lua) so the summary can prove every request succeeded.
dofile("scripts/dev/wrk-statuses.lua")
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
function request()
  if not distinct then return wrk.format() end
  counter = counter + 1
  local seed = tostring(counter * 64 + thread_id + 1000)
  return wrk.format(nil, nil, nil, (body:gsub('"seed":SEED', '"seed":' .. seed)))
end
