-- POST /oauth/introspect for valid tokens rotating over the file TOKENS,
-- as a backend service does it: HTTP Basic with the service's credentials
-- (BASIC, already base64), the token as a form field.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local headers = {
  ["Authorization"] = "Basic " .. os.getenv("BASIC"),
  ["Content-Type"] = "application/x-www-form-urlencoded",
}
local counter = 0
-- Set by setup() below: a global, as thread:set() sets globals (a local
-- here would hide it, and every thread would walk the list in step).
offset = 0

function setup(thread)
  thread:set("offset", math.random(1, #tokens))
end

function request()
  counter = counter + 1
  local t = tokens[(offset + counter) % #tokens + 1]
  return wrk.format("POST", "/oauth/introspect", headers, "token=" .. t)
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
