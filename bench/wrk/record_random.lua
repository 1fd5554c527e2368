-- GET recordInfo with the bench key, for a task drawn at random from IG_IDS (one id a line), so
-- the reads spread over the store instead of hitting one row.
--   IG_KEY, IG_IDS
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IG_KEY")

local ids = {}
function init(args)
  for line in io.lines(os.getenv("IG_IDS")) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  math.randomseed(os.time() + tonumber(tostring(ids):match("0x(%x+)") or "0", 16) % 1000)
end

function request()
  return wrk.format(nil, "/api/v1/jobs/recordInfo?taskId=" .. ids[math.random(#ids)])
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
