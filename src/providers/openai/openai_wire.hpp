#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/sizes.hpp"
#include "http/client.hpp"
#include "providers/provider.hpp"

/// OpenAI's Images API as an upstream: the requests imagegate sends and readers of the answers.
/// Pure functions, no I/O; thread-safe.
namespace ig::providers::openai {

/// How to reach one OpenAI-compatible server. A plain value.
struct Endpoint {
  std::string base_url;  // "https://api.openai.com/v1": paths are appended
  std::string api_key;   // "" sends no credentials (local servers)
  /// "authorization" (Authorization: Bearer <key>, OpenAI and most compatible servers) or
  /// "api-key" (Azure OpenAI's header).
  std::string auth_header = "authorization";
  std::string api_version;  // Azure: appended as ?api-version=<value>; "" none
  std::string model = "gpt-image-2";
  std::string moderation;  // "low" | "auto" sent upstream; "" leaves the upstream's default
};

/// POST {base}/images/generations: JSON with model, prompt, n, size "WxH" and quality,
/// output_format, output_compression, background, moderation where given.
http::Request generation_request(const Endpoint& ep, const GenerateJob& job, core::Size size);

/// POST {base}/images/edits: multipart with `image[]` once per reference (in order), `mask`,
/// prompt, model, n, size and the optional fields where given. `boundary` is the multipart
/// boundary (random per request in production; fixed in tests).
http::Request edit_request(const Endpoint& ep, const GenerateJob& job, core::Size size,
                           std::string_view boundary);

/// A successful answer, read.
struct Images {
  std::vector<std::string> images;  // decoded bytes of data[i].b64_json, in order
  Usage usage;
};

/// Reads a 2xx answer: `data` with `b64_json` per image (strict base64), `usage` when present.
/// The error says what was wrong in words fit for a client ("the upstream's answer is not
/// JSON", "data[0].b64_json is not valid base64").
core::Result<Images> read_images(std::string_view body);

/// The class, canonical code and safe message of an error answer (status ≥ 300): 429 and 5xx
/// kNoWork (with Retry-After / retry-after-ms), 401/403/404 kRouteFault, a moderation refusal
/// kRejected `moderation_blocked`, other 4xx kRejected `upstream_rejected`. The upstream's
/// message is kept (shortened), with anything that looks like an API key masked.
GenerateError read_error(unsigned status, std::string_view body, const http::Response& response,
                         std::string_view route, std::string_view api_key);

/// Retry-After (delta seconds) or retry-after-ms of a response; nullopt when absent or invalid.
std::optional<std::chrono::milliseconds> retry_after(const http::Response& response);

/// `text` with `secret` and every "sk-…"-like token replaced by "sk-***".
std::string mask_secrets(std::string_view text, std::string_view secret);

}  // namespace ig::providers::openai
