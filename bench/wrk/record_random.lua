-- GET recordInfo with the bench key, for a task drawn at random from IG_IDS (one id a line), so
-- the reads spread over the store instead of hitting one row.
--   IG_KEY, IG_IDS
-- wrk shares the machine's cores with the server it measures (and nginx is measured with no
-- script at all), so the script does as little as it can per request: every request is built
-- once in init(), and there is no response() callback (wrk then keeps no headers or bodies);
-- wrk's own summary counts the answers that are not 2xx, and run.sh reports them.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IG_KEY")

local requests = {}
function init(args)
  for line in io.lines(os.getenv("IG_IDS")) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format(nil, "/api/v1/jobs/recordInfo?taskId=" .. line)
    end
  end
  math.randomseed(os.time() + tonumber(tostring(requests):match("0x(%x+)") or "0", 16) % 1000)
end

function request()
  return requests[math.random(#requests)]
end
