#include "http/detail/tls.hpp"

#include <stdexcept>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

namespace ig::http::detail {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using boost::system::error_code;

void configure_client_context(ssl::context& tls) {
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression);
  tls.set_verify_mode(ssl::verify_peer);
  error_code ignored;
  tls.set_default_verify_paths(ignored);
}

void load_extra_ca(ssl::context& tls, const std::string& path) {
  error_code ec;
  tls.load_verify_file(path, ec);
  if (ec) {
    throw std::runtime_error("cannot load CA file " + path + ": " + ec.message());
  }
}

std::string tls_reason(const error_code& ec, SSL* ssl) {
  std::string reason = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
      reason = r;
    }
  }
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    reason.append(" (").append(X509_verify_cert_error_string(verify)).append(")");
  }
  return reason;
}

void configure_tls(TlsStream& stream, const Target& target, error_code& ec) {
  stream.set_verify_mode(ssl::verify_peer, ec);
  if (ec) {
    return;
  }
  stream.set_verify_callback(
      [check = ssl::host_name_verification(target.host), is_ip = target.host_is_ip](
          bool preverified, ssl::verify_context& ctx) mutable {
        const bool ok = check(preverified, ctx);
        if (preverified && !ok) {
          // Recorded so that the error message names the mismatch.
          X509_STORE_CTX_set_error(ctx.native_handle(), is_ip ? X509_V_ERR_IP_ADDRESS_MISMATCH
                                                              : X509_V_ERR_HOSTNAME_MISMATCH);
        }
        return ok;
      },
      ec);
  if (ec || target.host_is_ip) {
    return;  // RFC 6066: no SNI for IP literals
  }
  if (SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str()) != 1) {
    ec = error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
  }
}

}  // namespace ig::http::detail
