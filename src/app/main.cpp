#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/serve.hpp"

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

  auto* keys = app.add_subcommand("keys", "Manage API keys");
  keys->require_subcommand(1);
  auto* keys_create = keys->add_subcommand("create", "Create a key and print it on stdout");
  std::string key_name;
  std::int64_t credits = 0;
  keys_create->add_option("--name", key_name, "A name for the key")->required();
  keys_create->add_option("--credits", credits, "Initial credits")->check(CLI::NonNegativeNumber);
  keys_create->add_option("--data-dir", data_dir, "Data directory (./data)");
  keys_create->add_option("--config", config_file, "TOML configuration file");

  auto* version = app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (version->parsed()) {
    std::cout << "imagegate " << kVersion << "\n";
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
  if (keys_create->parsed()) {
    return ig::app::create_key(config, key_name, credits);
  }
  return 2;
}
