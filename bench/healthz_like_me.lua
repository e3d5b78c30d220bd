-- GET /healthz made exactly as me.lua makes /api/me: one Lua request() call
-- per request and the same Authorization header. wrk shares the machine's
-- cores with the server, and a Lua request() costs wrk far more than the
-- static requests of healthz.lua, so this is the baseline that differs from
-- /api/me only in the server's work.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local counter = 0
local offset = 0

function setup(thread)
  thread:set("offset", math.random(1, #tokens))
end

function request()
  counter = counter + 1
  local t = tokens[(offset + counter) % #tokens + 1]
  return wrk.format("GET", "/healthz", { ["Authorization"] = "Bearer " .. t })
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
