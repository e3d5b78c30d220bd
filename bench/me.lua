-- GET /api/me with valid tokens rotating over the file TOKENS (one a line).
-- With BENCH_PATH=/healthz it makes the fair baseline: the same Lua
-- request() per request and the same header, to a path that does no work.
-- wrk shares the cores with the server, and a Lua request() costs wrk far
-- more than the fixed requests of healthz.lua.
local path = os.getenv("BENCH_PATH") or "/api/me"
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local counter = 0
-- Set by setup() below: a global, as thread:set() sets globals (a local
-- here would hide it, and every thread would walk the list in step).
offset = 0

function setup(thread)
  -- Each thread starts at another place in the list.
  thread:set("offset", math.random(1, #tokens))
end

function request()
  counter = counter + 1
  local t = tokens[(offset + counter) % #tokens + 1]
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. t })
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
