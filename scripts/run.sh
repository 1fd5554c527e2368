#!/usr/bin/env bash
# `make run`: serve on the embedded defaults with a ready key and a curl line to try.
# The key made here is kept in DATA_DIR/dev-key (mode 0600) so later runs can print it again;
# the server itself stores only its SHA-256.
set -euo pipefail
bin=${1:-build/imagegate}
data_dir=${2:-./data}
listen=${3:-127.0.0.1:8080}

mkdir -p "$data_dir"
key_file="$data_dir/dev-key"
if [ ! -s "$key_file" ]; then
  (umask 077 && "$bin" keys create --name dev --data-dir "$data_dir" > "$key_file")
fi
key=$(cat "$key_file")

cat <<MSG

  imagegate is starting on http://$listen  (data dir: $data_dir, provider: sandbox)

  Your API key:  $key

  Try it:
    curl -s http://$listen/api/v1/jobs/createTask \\
      -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
      -d '{"model":"gpt-image-2-text-to-image","input":{"prompt":"a lighthouse at dusk","aspect_ratio":"16:9"}}'

    curl -s "http://$listen/api/v1/jobs/recordInfo?taskId=<taskId from above>" \\
      -H "Authorization: Bearer $key"

  Stop with Ctrl-C (the server drains and exits).

MSG
exec "$bin" serve --listen "$listen" --data-dir "$data_dir"
