#include <csignal>
#include <cstdio>
#include <iostream>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/allocator.hpp"
#include "app/config.hpp"
#include "app/generate.hpp"
#include "app/keys_cli.hpp"
#include "app/serve.hpp"
#include "billing/money.hpp"
#include "app/tasks_cli.hpp"

extern char** environ;

namespace {

constexpr const char* kVersion = "0.1.0";

// Precedence: defaults < --config file < IMAGEGATE_* environment < flags.
bool build_config(ig::app::Config& config, const std::string& config_file,
                  const std::vector<std::string>& sets) {
  if (!config_file.empty()) {
    if (auto st = ig::app::load_toml(config, config_file); !st) {
      std::cerr << "imagegate: " << st.error().message << "\n";
      return false;
    }
  }
  if (auto st = ig::app::load_env(config, environ); !st) {
    std::cerr << "imagegate: " << st.error().message << "\n";
    return false;
  }
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) {
      std::cerr << "imagegate: --set expects section.key=value, got '" << s << "'\n";
      return false;
    }
    if (auto st = ig::app::set_option(config, s.substr(0, eq), s.substr(eq + 1)); !st) {
      std::cerr << "imagegate: " << st.error().message << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // A write to a connection its peer has reset raises SIGPIPE, whose default action ends the
  // process without a word. Asio's own writes pass MSG_NOSIGNAL, but sendfile(2) (result
  // downloads) and OpenSSL's writes cannot: the error is handled where it is returned instead.
  std::signal(SIGPIPE, SIG_IGN);
  // Logs go to stderr so that stdout carries only a command's answer (the new key, …).
  auto logger = spdlog::stderr_color_mt("imagegate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  CLI::App app{"imagegate: a self-hosted gateway for asynchronous image generation"};
  app.require_subcommand(1);

  std::string config_file;
  std::string listen;
  std::string data_dir;
  std::vector<std::string> sets;

  auto* serve = app.add_subcommand("serve", "Serve the HTTP API");
  serve->add_option("--config", config_file, "TOML configuration file");
  serve->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--data-dir", data_dir, "Directory for the database and results (./data)");
  serve->add_option("--set", sets, "Override an option: section.key=value (repeatable)");

  // Key and credit commands act on the configured store (store.url, else the data dir), or on
  // a running server's admin API.
  ig::app::AdminTarget admin;
  auto add_target = [&](CLI::App* cmd) {
    cmd->add_option("--data-dir", data_dir, "Data directory (./data)");
    cmd->add_option("--config", config_file, "TOML configuration file");
    cmd->add_option("--server", admin.server,
                    "A running server's base URL: act through its admin API instead");
    cmd->add_option("--admin-token", admin.admin_token,
                    "The admin token for --server (default: admin.token or "
                    "IMAGEGATE_ADMIN_TOKEN)");
  };
  auto* keys = app.add_subcommand("keys", "Manage API keys");
  keys->require_subcommand(1);
  auto* keys_create = keys->add_subcommand("create", "Create a key and print it on stdout");
  std::string key_name;
  std::string credits_text;
  keys_create->add_option("--name", key_name, "A name for the key")->required();
  keys_create->add_option("--credits", credits_text,
                          "Initial credits (decimals allowed); makes the account metered");
  add_target(keys_create);
  auto* keys_list = keys->add_subcommand("list", "List keys (never their secrets)");
  add_target(keys_list);
  auto* keys_disable = keys->add_subcommand("disable", "Disable a key");
  std::int64_t key_id = 0;
  keys_disable->add_option("id", key_id, "The key's id (keys list)")->required();
  add_target(keys_disable);

  auto* credits = app.add_subcommand("credits", "Manage credits");
  credits->require_subcommand(1);
  auto* credits_add = credits->add_subcommand("add", "Top up (or, negative, adjust) an account");
  std::string key_prefix;
  std::string amount_text;
  credits_add->add_option("--key-prefix", key_prefix, "The prefix of one of the account's keys")
      ->required();
  credits_add->add_option("--amount", amount_text, "Credits to add (decimals allowed)")
      ->required();
  add_target(credits_add);

  auto* tasks = app.add_subcommand("tasks", "Inspect tasks");
  tasks->require_subcommand(1);
  auto* tasks_show =
      tasks->add_subcommand("show", "Print a task, its upstream and its upstream calls");
  std::string task_id;
  tasks_show->add_option("id", task_id, "The task's public id")->required();
  tasks_show->add_option("--data-dir", data_dir, "Data directory (./data)");
  tasks_show->add_option("--config", config_file, "TOML configuration file");

  auto* generate = app.add_subcommand("generate", "Create a task, wait for it, download results");
  ig::app::GenerateOptions gen;
  std::string gen_dialect = "jobs";
  std::string gen_out = ".";
  int gen_n = 1;
  int gen_timeout_s = 600;
  generate->add_option("--server", gen.server, "Base URL, e.g. http://127.0.0.1:8080")->required();
  generate->add_option("--key", gen.key, "API key (sk-...)")->required();
  generate->add_option("--dialect", gen_dialect, "jobs (default), tasks, generations or unified")
      ->check(CLI::IsMember({"jobs", "tasks", "generations", "unified"}));
  generate->add_option("prompt", gen.prompt, "What to draw")->required();
  generate->add_option("-i,--image", gen.image_urls, "Reference image URL (repeatable)")
      ->allow_extra_args(false);
  generate->add_option("--mask", gen.mask_url, "Mask PNG URL (unified only)");
  generate->add_option("--size", gen.size, "Aspect ratio (1:1, 16:9, ...) or WxH (unified)");
  generate->add_option("--resolution", gen.resolution, "1K, 2K or 4K");
  auto* gen_n_option = generate->add_option("-n", gen_n, "Number of images (unified only)");
  generate->add_option("-o,--output", gen_out, "Directory for the results (default .)");
  generate->add_option("--timeout", gen_timeout_s, "Give up after this many seconds (600)")
      ->check(CLI::Range(1, 86400));

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // `generate` is a client: scripts tell bad usage (2) from a failed task (1).
    return generate->parsed() && rc != 0 ? ig::app::kExitUsage : rc;
  }

  if (generate->parsed()) {
    gen.dialect = *ig::app::parse_dialect(gen_dialect);
    gen.out_dir = gen_out;
    gen.timeout = std::chrono::seconds(gen_timeout_s);
    if (gen_n_option->count() > 0) {
      gen.n = gen_n;
    }
    return ig::app::run_generate(gen, std::cout, std::cerr, isatty(STDERR_FILENO) == 1);
  }

  if (version->parsed()) {
    std::cout << "imagegate " << kVersion << "\n"
              << "allocator: " << ig::app::allocator_in_use() << "\n";
    return 0;
  }
  ig::app::Config config;
  if (!build_config(config, config_file, sets)) {
    return 2;
  }
  if (!listen.empty()) {
    config.listen = listen;
  }
  if (!data_dir.empty()) {
    config.data_dir = data_dir;
  }
  if (serve->parsed()) {
    return ig::app::serve(config);
  }
  if (admin.admin_token.empty()) {
    admin.admin_token = config.admin_token;
  }
  if (!admin.server.empty() && admin.admin_token.empty()) {
    std::cerr << "imagegate: --server needs --admin-token (or admin.token, IMAGEGATE_ADMIN_TOKEN)\n";
    return 2;
  }
  if (keys_create->parsed()) {
    std::optional<std::int64_t> initial;
    if (!credits_text.empty()) {
      auto parsed = ig::billing::parse_credits(credits_text, "--credits");
      if (!parsed || *parsed < 0) {
        std::cerr << "imagegate: "
                  << (parsed ? std::string("--credits must not be negative")
                             : parsed.error().message)
                  << "\n";
        return 2;
      }
      initial = *parsed;
    }
    return ig::app::keys_create(config, admin, key_name, initial, std::cout, std::cerr);
  }
  if (keys_list->parsed()) {
    return ig::app::keys_list(config, admin, std::cout, std::cerr);
  }
  if (keys_disable->parsed()) {
    return ig::app::keys_disable(config, admin, key_id, std::cout, std::cerr);
  }
  if (credits_add->parsed()) {
    auto amount = ig::billing::parse_credits(amount_text, "--amount");
    if (!amount) {
      std::cerr << "imagegate: " << amount.error().message << "\n";
      return 2;
    }
    return ig::app::credits_add(config, admin, key_prefix, *amount, std::cout, std::cerr);
  }
  if (tasks_show->parsed()) {
    return ig::app::show_task(config, task_id, std::cout, std::cerr);
  }
  return 2;
}
