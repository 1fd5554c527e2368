#pragma once

#include <string>

#include <openssl/ssl.h>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/error_code.hpp>

#include "http/url.hpp"

/// TLS pieces shared by the blocking Client and the AsyncClient.
namespace ig::http::detail {

using TlsStream = boost::asio::ssl::stream<boost::beast::tcp_stream>;

/// A client context: TLS 1.2 or later, peer verification on, the system trust store
/// (SSL_CERT_FILE / SSL_CERT_DIR override it). Should the store be missing, every handshake
/// fails verification with a message that says so: no silent downgrade.
void configure_client_context(boost::asio::ssl::context& tls);

/// Trusts the PEM file `path` besides the system store. Throws std::runtime_error naming the
/// file when it cannot be loaded (a start-up error).
void load_extra_ca(boost::asio::ssl::context& tls, const std::string& path);

/// Peer verification against the trust store and the target's host (a mismatch is recorded in
/// the verify result so that tls_reason can name it); SNI for names only (RFC 6066).
void configure_tls(TlsStream& stream, const Target& target, boost::system::error_code& ec);

/// OpenSSL's reason, plus the certificate verification result when that is what failed.
std::string tls_reason(const boost::system::error_code& ec, SSL* ssl);

}  // namespace ig::http::detail
