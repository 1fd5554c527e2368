-- POST createTask with the bench key until this thread has IG_QUOTA answers, then stop the
-- thread (each request creates a task). wrk itself only stops at -d or SIGINT: the thread
-- touches IG_DONE_DIR/<n> when it stops, and bench/run.sh sends wrk SIGINT once every thread has.
-- A thread stops with up to its connections' requests still in flight; the server may commit
-- those too, so the store can end up to -c tasks above the quotas.
-- The done file holds "<answers> <start ns> <end ns>" (CLOCK_MONOTONIC, from the thread's first
-- answer to its last, the answers after the first): bench/run.sh rates a run from them rather
-- than from wrk's own figure, which counts the connecting and the time until the SIGINT.
--   IG_KEY, IG_QUOTA (answers per thread), IG_DONE_DIR
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IG_KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-image-2-text-to-image","input":{"prompt":"a benchmark lighthouse","aspect_ratio":"16:9","resolution":"1K"}}'

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("n", counter)
end

local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } ig_timespec;
  int clock_gettime(int clk_id, ig_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local function now_ns()
  local ts = ffi.new("ig_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000000 + tonumber(ts.tv_nsec)
end

local quota, answered, stopped, started
function init(args)
  quota = tonumber(os.getenv("IG_QUOTA"))
  answered = 0
  stopped = false
  started = nil
end

function response(status, headers, body)
  answered = answered + 1
  if not started then
    started = now_ns()
  end
  if answered >= quota and not stopped then
    stopped = true
    local f = io.open(os.getenv("IG_DONE_DIR") .. "/" .. tostring(wrk.thread:get("n")), "w")
    f:write(string.format("%d %.0f %.0f\n", answered - 1, started, now_ns()))
    f:close()
    wrk.thread:stop()
  end
end
