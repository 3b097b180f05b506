-- wrk script: POSTs the JSONL lines of WRK_BODIES (one failure per request, cycling), so the
-- server matches a realistic mix instead of one repeated body.
local bodies = {}
local path = os.getenv("WRK_BODIES")
local target = os.getenv("WRK_PATH") or "/api/v1/failures"
local i = 0

function init(args)
  for line in io.lines(path) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  i = math.random(#bodies)
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", target, {["Content-Type"] = "application/json"}, bodies[i])
end
