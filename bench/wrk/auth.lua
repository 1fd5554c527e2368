-- GET with the bench key.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IG_KEY")

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
