#include "callbacks/signing.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ig::callbacks {
namespace {

// The Standard Webhooks reference libraries' own test vector (libraries/go/webhook_test.go,
// libraries/csharp/StandardWebhooks.Tests/WebhookTest.cs).
constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kMsgId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kTimestamp = 1614265330;
constexpr std::string_view kTimestampText = "1614265330";
constexpr std::string_view kBody = R"({"test": 2432232314})";
constexpr std::string_view kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::string key_of(std::string_view whsec) {
  auto key = secret_key_bytes(whsec);
  EXPECT_TRUE(key) << whsec;
  return key ? *key : std::string();
}

bool verify_at(std::string_view header, std::int64_t now_s) {
  return verify(kSecret, kMsgId, kTimestampText, kBody, header, now_s);
}

TEST(Signing, MatchesTheReferenceLibrariesVector) {
  const std::string key = key_of(kSecret);
  EXPECT_EQ(key.size(), 24u);
  EXPECT_EQ(sign(key, kMsgId, kTimestamp, kBody), kSignature);
  EXPECT_TRUE(verify_at(kSignature, kTimestamp));
}

TEST(Signing, MatchesAnIndependentVectorWithA64ByteKey) {
  // python3 -c 'import hmac,hashlib,base64; k=bytes(range(64)); print(base64.b64encode(k));
  //   print(base64.b64encode(hmac.new(k, b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231."
  //   b"{\"type\":\"contact.created\"}", hashlib.sha256).digest()))'
  const std::string key = key_of(
      "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
      "Pw==");
  ASSERT_EQ(key.size(), 64u);
  EXPECT_EQ(static_cast<unsigned char>(key[63]), 63u);
  EXPECT_EQ(
      sign(key, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, R"({"type":"contact.created"})"),
      "v1,Ep2Oa4QC9W6ETBuEq3wF/FP8n0sTF8Sc85bgwI6552A=");
}

TEST(Signing, RoundTripsWithAFreshSecret) {
  auto secret = new_webhook_secret();
  ASSERT_TRUE(secret);
  const std::string key = key_of(*secret);
  const std::string id = new_message_id();
  const std::string body = R"({"id":"task_1","status":"succeeded"})";
  const std::string header = sign(key, id, 1'700'000'000, body);
  EXPECT_TRUE(verify(*secret, id, "1700000000", body, header, 1'700'000'010));
}

TEST(Signing, RefusesATamperedBodyIdOrTimestamp) {
  EXPECT_FALSE(
      verify(kSecret, kMsgId, kTimestampText, R"({"test": 2432232315})", kSignature, kTimestamp));
  EXPECT_FALSE(
      verify(kSecret, kMsgId, kTimestampText, std::string(kBody) + " ", kSignature, kTimestamp));
  EXPECT_FALSE(verify(kSecret, "msg_p5jXN8AQM9LWM0D4loKWxJel", kTimestampText, kBody, kSignature,
                      kTimestamp));
  EXPECT_FALSE(verify(kSecret, kMsgId, "1614265331", kBody, kSignature, kTimestamp));
  // Another key, and a signature one character off.
  EXPECT_FALSE(verify("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", kMsgId, kTimestampText,
                      kBody, kSignature, kTimestamp));
  EXPECT_FALSE(verify_at("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=", kTimestamp));
  EXPECT_FALSE(verify_at("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", kTimestamp));
  EXPECT_FALSE(verify_at("", kTimestamp));
}

TEST(Signing, AcceptsTimestampsWithinTheToleranceOnly) {
  EXPECT_TRUE(verify_at(kSignature, kTimestamp + 300));
  EXPECT_FALSE(verify_at(kSignature, kTimestamp + 301));  // too old
  EXPECT_TRUE(verify_at(kSignature, kTimestamp - 300));
  EXPECT_FALSE(verify_at(kSignature, kTimestamp - 301));  // too new
  EXPECT_TRUE(verify(kSecret, kMsgId, kTimestampText, kBody, kSignature, kTimestamp + 10, 10));
  EXPECT_FALSE(verify(kSecret, kMsgId, kTimestampText, kBody, kSignature, kTimestamp + 11, 10));
  EXPECT_TRUE(verify(kSecret, kMsgId, kTimestampText, kBody, kSignature, kTimestamp, 0));
  EXPECT_FALSE(verify(kSecret, kMsgId, kTimestampText, kBody, kSignature, kTimestamp + 1, 0));
}

TEST(Signing, RefusesATimestampThatIsNotDecimalSeconds) {
  for (const char* bad : {"", " 1614265330", "1614265330 ", "+1614265330", "-1614265330",
                          "1614265330.0", "1.61e9", "0x6038bcf2", "99999999999999999999"}) {
    EXPECT_FALSE(verify(kSecret, kMsgId, bad, kBody, kSignature, kTimestamp)) << bad;
  }
}

TEST(Signing, AcceptsAnyMatchingV1EntryOfSeveral) {
  const std::string other = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=";
  EXPECT_TRUE(verify_at(other + " " + std::string(kSignature), kTimestamp));
  EXPECT_TRUE(verify_at(std::string(kSignature) + " " + other, kTimestamp));
  EXPECT_TRUE(
      verify_at("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdp"
                "XwVLPo3mNl8EM+m7TBAg== " +
                    std::string(kSignature),
                kTimestamp));
  EXPECT_TRUE(verify_at(other + "  " + std::string(kSignature) + " ", kTimestamp));
  EXPECT_FALSE(verify_at(other, kTimestamp));
  EXPECT_FALSE(verify_at(other + " " + other, kTimestamp));
}

TEST(Signing, IgnoresEntriesOfOtherVersions) {
  const std::string value = std::string(kSignature.substr(3));  // the right HMAC, wrong label
  EXPECT_FALSE(verify_at("v2," + value, kTimestamp));
  EXPECT_FALSE(verify_at("v1a," + value, kTimestamp));
  EXPECT_FALSE(verify_at("V1," + value, kTimestamp));
  EXPECT_FALSE(verify_at(value, kTimestamp));
  EXPECT_TRUE(verify_at("v2," + value + " v1," + value, kTimestamp));
}

TEST(Signing, ReadsSecretsWithOrWithoutPrefixAndPadding) {
  const std::string key = key_of(kSecret);
  EXPECT_EQ(key_of(kSecret.substr(6)), key);  // the libraries accept a bare base64 secret
  // A 32-byte key: 44 characters with one '=', or 43 without it.
  const std::string padded = key_of("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  ASSERT_EQ(padded.size(), 32u);
  for (std::size_t i = 0; i < padded.size(); ++i) {
    EXPECT_EQ(static_cast<unsigned char>(padded[i]), i);
  }
  EXPECT_EQ(key_of("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"), padded);
}

TEST(Signing, RefusesBadSecrets) {
  for (const char* bad : {
           "", "whsec_", "whsec_!!!!MfKQ9r8GKYqrTwjUPD8ILPZIo2La",
           "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwA",              // a dangling character
           "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=",              // padding where none belongs
           "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",  // too much padding
           "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGx=dHh8=",   // padding inside
           "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ",              // whitespace
           "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw",
           "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La-aS_",  // URL-safe alphabet
           "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",   // an asymmetric key's prefix
           "whsec_AAAAAAAAAAAAAAAAAAAAAA==",          // 16 bytes
           "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // 23 bytes
       }) {
    auto key = secret_key_bytes(bad);
    ASSERT_FALSE(key) << bad;
    EXPECT_EQ(key.error().code, core::ErrorCode::kInvalidRequest) << bad;
    EXPECT_EQ(key.error().param, "secret") << bad;
    EXPECT_FALSE(verify(bad, kMsgId, kTimestampText, kBody, kSignature, kTimestamp)) << bad;
  }
}

TEST(Signing, AcceptsKeysOf24To64BytesOnly) {
  // n 'A's then padding decode to 3n/4 zero bytes.
  EXPECT_EQ(key_of("whsec_" + std::string(32, 'A')).size(), 24u);
  EXPECT_EQ(key_of("whsec_" + std::string(86, 'A') + "==").size(), 64u);
  EXPECT_FALSE(secret_key_bytes("whsec_" + std::string(87, 'A') + "="));  // 65 bytes
  EXPECT_FALSE(secret_key_bytes("whsec_" + std::string(88, 'A')));        // 66 bytes
}

TEST(Signing, NewSecretsHold32RandomBytesEach) {
  std::set<std::string> keys;
  for (int i = 0; i < 200; ++i) {
    auto secret = new_webhook_secret();
    ASSERT_TRUE(secret);
    EXPECT_EQ(secret->size(), 6u + 44u) << *secret;
    EXPECT_TRUE(secret->starts_with("whsec_")) << *secret;
    EXPECT_EQ(secret->back(), '=') << *secret;  // standard base64 keeps its padding
    const std::string key = key_of(*secret);
    EXPECT_EQ(key.size(), 32u);
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 200u);
}

TEST(Signing, MessageIdsAreMsgAnd27Base62Characters) {
  const std::regex shape("msg_[0-9A-Za-z]{27}");
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_message_id();
    EXPECT_TRUE(std::regex_match(id, shape)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(Signing, MessageIdsDrawFromTheInjectedSourceWithoutBias) {
  // Byte 61 is 'z'; bytes 248..255 would favour the first 8 characters and are skipped.
  EXPECT_EQ(new_message_id([] { return std::uint64_t{0x3d3d3d3d3d3d3d3d}; }),
            "msg_" + std::string(27, 'z'));
  int calls = 0;
  const std::string id = new_message_id([&calls]() -> std::uint64_t {
    return ++calls % 2 == 1 ? ~std::uint64_t{0} : 0x00'01'02'03'04'05'06'f8;
  });
  EXPECT_EQ(id,
            "msg_6543210"
            "6543210"
            "6543210"
            "654321");
}

TEST(Signing, HiapiSignatureMatchesAnIndependentHmac) {
  // python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  //   print(hmac.new(k, b"1614265330.{\"test\": 2432232314}", hashlib.sha256).hexdigest())'
  EXPECT_EQ(hiapi_signature(key_of(kSecret), kTimestamp, kBody),
            "e96203c6de850e7dc1fde7489ef6140b402d3a5a64fe250cd2eef9830fac1cef");
  // python3 -c 'import hmac,hashlib; print(hmac.new(bytes(range(32)), b"1700000000.",
  //   hashlib.sha256).hexdigest())'
  EXPECT_EQ(hiapi_signature(key_of("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
                            1'700'000'000, ""),
            "683c204f0469cec8715a24eadb293fca0bf8b70ff69483e4925095bd0f2b565d");
}

TEST(Signing, BuildsEveryHeaderOfADelivery) {
  const std::string key = key_of(kSecret);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(webhook_headers(key, kMsgId, kTimestamp, kBody, false).headers,
            (Headers{{"webhook-id", std::string(kMsgId)},
                     {"webhook-timestamp", std::string(kTimestampText)},
                     {"webhook-signature", std::string(kSignature)}}));
  EXPECT_EQ(webhook_headers(key, kMsgId, kTimestamp, kBody, true).headers,
            (Headers{{"webhook-id", std::string(kMsgId)},
                     {"webhook-timestamp", std::string(kTimestampText)},
                     {"webhook-signature", std::string(kSignature)},
                     {"X-HiAPI-Timestamp", std::string(kTimestampText)},
                     {"X-HiAPI-Signature",
                      "e96203c6de850e7dc1fde7489ef6140b402d3a5a64fe250cd2eef9830fac1cef"}}));
}

}  // namespace
}  // namespace ig::callbacks
