-- POST createTask with the bench key; each request creates a task (committed before the 200).
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IG_KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-image-2-text-to-image","input":{"prompt":"a benchmark lighthouse","aspect_ratio":"16:9","resolution":"1K"}}'
