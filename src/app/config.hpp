#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "billing/prices.hpp"
#include "core/result.hpp"

namespace ig::app {

/// One `[providers.<name>]` section: `kind` and every other key's value as text (arrays joined
/// by ','). The provider's factory reads and checks the keys.
struct ProviderSection {
  std::string name;
  std::string kind;
  std::map<std::string, std::string> options;
};

/// Every setting of the server. Built once at start-up from, in rising precedence: defaults,
/// the TOML file, IMAGEGATE_* environment variables, command-line flags. Read-only afterwards.
struct Config {
  // [server]
  std::string listen = "127.0.0.1:8080";
  std::string public_url;  // base of result URLs; default http://<listen address>
  std::string port_file;   // when set, the bound port is written here (for port 0)
  int io_threads = 0;      // 0: one per core
  int io_slice_us = 300;   // time slice the I/O threads keep to (ask for, yield after); 0: none
  int blocking_threads = 16;
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_body_bytes = 1024 * 1024;
  std::int64_t max_upload_bytes = 64 * 1024 * 1024;  // multipart uploads (openai edits)
  std::int64_t sync_timeout_ms = 300'000;            // openai: longest wait for an image
  // Process-wide caps (0: none) on upload bodies held at once and on openai answers (base64)
  // held at once; over a cap a request is answered 503 with Retry-After.
  std::int64_t upload_memory_bytes = 256 * 1024 * 1024;
  std::int64_t answer_memory_bytes = 256 * 1024 * 1024;
  std::int64_t idle_timeout_ms = 60'000;
  std::int64_t request_timeout_ms = 10'000;  // the header must arrive in this time
  std::int64_t min_body_rate = 64 * 1024;  // bytes/s: a body gets request_timeout + size/rate
  std::int64_t drain_timeout_ms = 25'000;
  std::int64_t max_connections = 10'000;
  // data
  std::filesystem::path data_dir = "./data";
  // [store]
  std::string sqlite_synchronous = "FULL";
  std::int64_t sqlite_task_cache = 16384;  // tasks kept decoded in memory for reads; 0: none
  // [store] PostgreSQL: several nodes share one database (docs/postgres.md)
  std::string store_url;     // postgres://user:password@host:port/db; "": SQLite in data_dir
  int store_pool_size = 10;  // PostgreSQL connections of this process, at most
  // [dispatcher]
  int concurrency = 4;
  std::int64_t lease_ms = 30'000;
  std::int64_t poll_ms = 500;
  int max_attempts = 3;  // claims of one task before it fails (too_many_attempts)
  // [sandbox]
  std::int64_t sandbox_latency_ms = 1000;
  double sandbox_failure_rate = 0.0;
  // [media]
  // An upper bound on every fetched input; each dialect's document limit applies below it.
  std::int64_t input_max_bytes = 50 * 1024 * 1024;
  std::int64_t input_max_pixels = 50'000'000;
  std::int64_t connect_timeout_ms = 5'000;
  std::int64_t fetch_timeout_ms = 30'000;
  int max_redirects = 3;
  std::vector<std::string> unsafe_allow_cidrs;  // TEST ONLY: addresses exempt from SSRF checks
  std::string extra_ca_file;                    // PEM trusted in addition to the system store
  // [results]
  std::int64_t result_ttl_s = 86'400;
  std::int64_t janitor_interval_s = 600;
  // [results] storage, signing_key_file and [s3]: where result objects live (see
  // docs/operations.md, "S3 result storage")
  std::string result_storage = "fs";        // "fs" (data_dir/results) | "s3"
  std::filesystem::path signing_key_file;  // "": data_dir/url-signing.key
  std::string s3_endpoint;                 // "": AWS for the region
  std::string s3_bucket;
  std::string s3_region = "us-east-1";
  bool s3_path_style = true;
  std::string s3_access_key_env = "AWS_ACCESS_KEY_ID";
  std::string s3_secret_key_env = "AWS_SECRET_ACCESS_KEY";
  std::filesystem::path s3_credentials_file;  // set: an AWS credentials file, [default]
  std::string s3_serve = "signed";            // "signed" | "presigned"
  std::int64_t s3_timeout_ms = 30'000;
  // [auth]
  std::int64_t key_cache_ms = 5'000;
  // Peers (CIDRs) whose X-Forwarded-For names the client, for IP allowlists.
  std::vector<std::string> trusted_proxies;
  // [callbacks]
  int callback_concurrency = 32;
  std::int64_t callback_timeout_ms = 10'000;
  std::vector<std::int64_t> callback_extra_retries_s;  // after the 1, 2, 4 s retries; off
  // [admin]
  std::string admin_token;  // "" = the admin API is off
  // [console]
  // Serve /console/ from this directory, read again on every request (for working on the
  // console without rebuilding); empty: the files embedded at build time.
  std::filesystem::path console_dir;
  // [log]
  std::string log_level = "info";
  // [providers.<name>] and [routing] (TOML file only)
  std::vector<ProviderSection> providers;
  /// Model family → ordered route names ("gpt-image-2" → {"openai", "kie"}).
  std::vector<std::pair<std::string, std::vector<std::string>>> routing;
  // [prices] (TOML file only): what each task holds from its key's account
  billing::PriceTable prices = billing::PriceTable::defaults();
};

/// One settable option, for docs and error messages: its dotted name ("server.listen").
std::vector<std::string> option_names();

/// Applies "section.key" = value (a string from the environment or `--set`).
core::Status set_option(Config& c, std::string_view name, std::string_view value);

/// Loads a TOML file over `c`. Unknown keys are errors (a typo should not pass silently).
/// `[providers.<name>]` tables (each with a `kind`) and the `[routing]` table (model family =
/// array of provider names) are read as they are; their meaning is checked when the server
/// builds its providers.
core::Status load_toml(Config& c, const std::filesystem::path& file);

/// load_toml for TOML text already in memory; `source` names it in error messages. Touches no
/// file.
core::Status load_toml_text(Config& c, std::string_view text, std::string_view source);

/// Applies IMAGEGATE_<SECTION>_<KEY> variables (e.g. IMAGEGATE_SERVER_LISTEN) and the
/// shorthand IMAGEGATE_DATA_DIR, IMAGEGATE_LISTEN.
core::Status load_env(Config& c, char** environ);

}  // namespace ig::app
