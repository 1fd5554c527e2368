-- POST createTask with the bench key until this thread has IG_QUOTA answers, then stop the
-- thread (each request creates a task). wrk itself only stops at -d or SIGINT: the thread
-- touches IG_DONE_DIR/<n> when it stops, and bench/run.sh sends wrk SIGINT once every thread has.
-- A thread stops with up to its connections' requests still in flight; the server may commit
-- those too, so the store can end up to -c tasks above the quotas.
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

local quota, answered, stopped
function init(args)
  quota = tonumber(os.getenv("IG_QUOTA"))
  answered = 0
  stopped = false
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= quota and not stopped then
    stopped = true
    local f = io.open(os.getenv("IG_DONE_DIR") .. "/" .. tostring(wrk.thread:get("n")), "w")
    f:close()
    wrk.thread:stop()
  end
end
