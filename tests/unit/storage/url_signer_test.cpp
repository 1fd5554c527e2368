#include "storage/url_signer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ig::storage {
namespace {

using Verdict = UrlSigner::Verdict;

constexpr std::string_view kPath = "/results/task-1/1.png";
constexpr std::int64_t kExpires = 1'700'000'000;

class UrlSignerTest : public ::testing::Test {
 protected:
  UrlSigner signer_{"test-secret-0123456789abcdef0123456789"};
  std::string sig_ = signer_.signature(kPath, kExpires);
};

TEST_F(UrlSignerTest, SignatureIsLowerHexHmacSha256OfPathNewlineExpires) {
  // printf '/results/task-1/1.png\n1700000000' | openssl dgst -sha256 -hmac <secret>
  EXPECT_EQ(sig_, "b56407fb6f007ef24de09fb0d814329ddb542ed243f01265fbfbdf65316a6fa4");
  EXPECT_EQ(signer_.signed_query(kPath, kExpires), "expires=1700000000&signature=" + sig_);
}

TEST_F(UrlSignerTest, ValidUntilAndIncludingTheExpirySecond) {
  EXPECT_EQ(signer_.verify(kPath, "1700000000", sig_, kExpires - 3600), Verdict::kValid);
  EXPECT_EQ(signer_.verify(kPath, "1700000000", sig_, kExpires), Verdict::kValid);
  EXPECT_EQ(signer_.verify(kPath, "1700000000", sig_, kExpires + 1), Verdict::kExpired);
}

TEST_F(UrlSignerTest, TamperedPathIsRefused) {
  EXPECT_EQ(signer_.verify("/results/task-1/2.png", "1700000000", sig_, kExpires - 1),
            Verdict::kBadSignature);
  EXPECT_EQ(signer_.verify("/results/task-2/1.png", "1700000000", sig_, kExpires - 1),
            Verdict::kBadSignature);
}

TEST_F(UrlSignerTest, TamperedExpiresIsRefused) {
  EXPECT_EQ(signer_.verify(kPath, "1700000001", sig_, kExpires - 1), Verdict::kBadSignature);
  EXPECT_EQ(signer_.verify(kPath, "9999999999", sig_, kExpires - 1), Verdict::kBadSignature);
}

TEST_F(UrlSignerTest, TamperedExpiredUrlIsABadSignatureNotExpired) {
  EXPECT_EQ(signer_.verify(kPath, "1700000001", sig_, kExpires + 100), Verdict::kBadSignature);
}

TEST_F(UrlSignerTest, MalformedExpiresIsABadSignature) {
  for (const char* expires : {"", "abc", "01700000000", "+1700000000", "-1", " 1700000000",
                              "1700000000 ", "1.7e9", "99999999999999999999999"}) {
    SCOPED_TRACE(expires);
    EXPECT_EQ(signer_.verify(kPath, expires, sig_, 0), Verdict::kBadSignature);
  }
}

TEST_F(UrlSignerTest, TamperedSignatureIsRefused) {
  std::string flipped = sig_;
  flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
  EXPECT_EQ(signer_.verify(kPath, "1700000000", flipped, kExpires - 1), Verdict::kBadSignature);

  std::string upper = sig_;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(signer_.verify(kPath, "1700000000", upper, kExpires - 1), Verdict::kBadSignature);
}

TEST_F(UrlSignerTest, WrongLengthSignatureIsRefused) {
  EXPECT_EQ(signer_.verify(kPath, "1700000000", "", kExpires - 1), Verdict::kBadSignature);
  EXPECT_EQ(signer_.verify(kPath, "1700000000", sig_.substr(0, 63), kExpires - 1),
            Verdict::kBadSignature);
  EXPECT_EQ(signer_.verify(kPath, "1700000000", sig_ + "0", kExpires - 1), Verdict::kBadSignature);
}

TEST_F(UrlSignerTest, AnotherSecretDoesNotVerify) {
  UrlSigner other("another-secret-0123456789abcdef012345");
  EXPECT_NE(other.signature(kPath, kExpires), sig_);
  EXPECT_EQ(other.verify(kPath, "1700000000", sig_, kExpires - 1), Verdict::kBadSignature);
}

}  // namespace
}  // namespace ig::storage
