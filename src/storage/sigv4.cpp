#include "storage/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

namespace ig::storage::sigv4 {
namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A header value as signed: surrounding blanks trimmed, inner runs of blanks made one space.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      blank = !out.empty();
      continue;
    }
    if (blank) {
      out.push_back(' ');
      blank = false;
    }
    out.push_back(c);
  }
  return out;
}

Pairs sorted_headers(const Pairs& headers) {
  Pairs out;
  out.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    out.emplace_back(lower(name), canonical_value(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return hex(std::string_view(reinterpret_cast<const char*>(digest), n));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &n);
  return std::string(reinterpret_cast<const char*>(mac), n);
}

std::string md5_base64(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr);
  unsigned char out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int len = EVP_EncodeBlock(out, digest, static_cast<int>(n));
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    out.push_back('%');
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

std::string amz_date(std::int64_t unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string canonical_query(const Pairs& query) {
  Pairs encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(uri_encode(name, false), uri_encode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string signed_headers(const Pairs& headers) {
  std::string out;
  for (const auto& [name, value] : sorted_headers(headers)) {
    if (!out.empty()) {
      out.push_back(';');
    }
    out += name;
  }
  return out;
}

std::string canonical_request(const Request& request) {
  std::string out = request.method;
  out.push_back('\n');
  out += request.canonical_uri.empty() ? "/" : request.canonical_uri;
  out.push_back('\n');
  out += canonical_query(request.query);
  out.push_back('\n');
  for (const auto& [name, value] : sorted_headers(request.headers)) {
    out += name;
    out.push_back(':');
    out += value;
    out.push_back('\n');
  }
  out.push_back('\n');
  out += signed_headers(request.headers);
  out.push_back('\n');
  out += request.payload_hash;
  return out;
}

std::string scope(std::string_view date8, std::string_view region, std::string_view service) {
  std::string out(date8);
  out.push_back('/');
  out += region;
  out.push_back('/');
  out += service;
  out += "/aws4_request";
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out.push_back('\n');
  out += amz_date;
  out.push_back('\n');
  out += scope;
  out.push_back('\n');
  out += sha256_hex(canonical_request);
  return out;
}

std::string signing_key(std::string_view secret, std::string_view date8, std::string_view region,
                        std::string_view service) {
  const std::string k_date = hmac_sha256("AWS4" + std::string(secret), date8);
  const std::string k_region = hmac_sha256(k_date, region);
  const std::string k_service = hmac_sha256(k_region, service);
  return hmac_sha256(k_service, "aws4_request");
}

std::string signature(const Credentials& credentials, std::string_view region,
                      std::string_view service, std::string_view amz_date, const Request& request) {
  const std::string_view date8 = amz_date.substr(0, 8);
  const std::string key = signing_key(credentials.secret_access_key, date8, region, service);
  const std::string to_sign =
      string_to_sign(amz_date, scope(date8, region, service), canonical_request(request));
  return hex(hmac_sha256(key, to_sign));
}

std::string authorization(const Credentials& credentials, std::string_view region,
                          std::string_view service, std::string_view amz_date,
                          const Request& request) {
  std::string out(kAlgorithm);
  out += " Credential=";
  out += credentials.access_key_id;
  out.push_back('/');
  out += scope(amz_date.substr(0, 8), region, service);
  out += ", SignedHeaders=";
  out += signed_headers(request.headers);
  out += ", Signature=";
  out += signature(credentials, region, service, amz_date, request);
  return out;
}

std::string presigned_query(const Credentials& credentials, std::string_view region,
                            std::string_view service, std::string_view amz_date,
                            std::int64_t expires_s, Request request) {
  if (request.payload_hash.empty()) {
    request.payload_hash = std::string(kUnsignedPayload);
  }
  request.query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  request.query.emplace_back("X-Amz-Credential", credentials.access_key_id + "/" +
                                                     scope(amz_date.substr(0, 8), region, service));
  request.query.emplace_back("X-Amz-Date", std::string(amz_date));
  request.query.emplace_back("X-Amz-Expires", std::to_string(expires_s));
  if (!credentials.session_token.empty()) {
    request.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  request.query.emplace_back("X-Amz-SignedHeaders", signed_headers(request.headers));
  const std::string sig = signature(credentials, region, service, amz_date, request);
  return canonical_query(request.query) + "&X-Amz-Signature=" + sig;
}

}  // namespace ig::storage::sigv4
