-- GET with the bench key. No response() callback: wrk then keeps no headers or bodies, and its
-- own summary counts the answers that are not 2xx (run.sh reports them).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IG_KEY")
