#!/usr/bin/env bash
# `make run`: serve on the embedded defaults with a ready key, an admin token, the web console's
# address and a curl line to try.
# The key made here is kept in DATA_DIR/dev-key (mode 0600) so later runs can print it again;
# the server itself stores only its SHA-256. The admin token is kept beside it in
# DATA_DIR/dev-admin-token (mode 0600; IMAGEGATE_ADMIN_TOKEN, when set, is used instead) and
# given to the server in its environment, not on its command line.
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

admin_file="$data_dir/dev-admin-token"
if [ -z "${IMAGEGATE_ADMIN_TOKEN:-}" ]; then
  if [ ! -s "$admin_file" ]; then
    # 32 random bytes in hex: 64 characters (the server wants at least 16).
    (umask 077 && printf 'adm-%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > "$admin_file")
  fi
  IMAGEGATE_ADMIN_TOKEN=$(cat "$admin_file")
fi
export IMAGEGATE_ADMIN_TOKEN

cat <<MSG

  imagegate is starting on http://$listen  (data dir: $data_dir, provider: sandbox)

  Your API key:      $key
  Admin token:       $IMAGEGATE_ADMIN_TOKEN
  Web console:       http://$listen/console/  (sign in with the key and/or the admin token)

  Try it:
    curl -s http://$listen/api/v1/jobs/createTask \\
      -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
      -d '{"model":"gpt-image-2-text-to-image","input":{"prompt":"a lighthouse at dusk","aspect_ratio":"16:9"}}'

    curl -s "http://$listen/api/v1/jobs/recordInfo?taskId=<taskId from above>" \\
      -H "Authorization: Bearer $key"

  Stop with Ctrl-C (the server drains and exits).

MSG
exec "$bin" serve --listen "$listen" --data-dir "$data_dir"
