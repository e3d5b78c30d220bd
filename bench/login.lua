-- POST /api/login, each request with a fresh code; odd requests log in a new
-- user, even ones the user of the request before (a returning user). The
-- fake WeChat derives the openid from the part of the code before the dot.
local counter = 0
-- Each thread's own number, set by setup() below: a global, as
-- thread:set() sets globals (a local here would hide it, and every thread
-- would send the same codes).
id = 0
local ids = 0
local run = tostring(os.time())

function setup(thread)
  ids = ids + 1
  thread:set("id", ids)
end

function request()
  counter = counter + 1
  local user = counter
  if counter % 2 == 0 then user = counter - 1 end
  local code = string.format("%s-%d-%d.%d", run, id, user, counter)
  return wrk.format("POST", "/api/login", { ["Content-Type"] = "application/json" },
    '{"code":"' .. code .. '"}')
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
