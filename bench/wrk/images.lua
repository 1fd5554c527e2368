-- POST an OpenAI Images generation; the same body and key for every path of bench/upstream.sh.
--   IG_KEY              the imagegate key (sent to every path; nginx ignores it, Portkey forwards it)
--   PORTKEY_CUSTOM_HOST when set, adds Portkey's routing headers (provider openai, this base URL)
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IG_KEY")
wrk.headers["Content-Type"] = "application/json"
local custom_host = os.getenv("PORTKEY_CUSTOM_HOST")
if custom_host ~= nil and custom_host ~= "" then
  wrk.headers["x-portkey-provider"] = "openai"
  wrk.headers["x-portkey-custom-host"] = custom_host
end
wrk.body = '{"model":"gpt-image-2","prompt":"bench","size":"1024x1024"}'
