// Every expected value here is published by AWS, not computed by this code: the Signature
// Version 4 test suite (get-vanilla and its siblings: credentials AKIDEXAMPLE, service
// "service", 2015-08-30T12:36:00Z) and the examples of the S3 API reference ("Signature
// Calculations for the Authorization Header" and "Query String Authentication": examplebucket,
// AKIAIOSFODNN7EXAMPLE, 2013-05-24T00:00:00Z).
#include "storage/sigv4.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ig::storage::sigv4 {
namespace {

constexpr std::string_view kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// --- The Signature Version 4 test suite ---------------------------------------------------

const Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kSuiteDate = "20150830T123600Z";

Request suite_request(std::string method, std::string uri, Pairs query = {}) {
  return Request{std::move(method),
                 std::move(uri),
                 std::move(query),
                 {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", std::string(kSuiteDate)}},
                 std::string(kEmptyHash)};
}

TEST(SigV4Suite, GetVanilla) {
  const Request r = suite_request("GET", "/");
  EXPECT_EQ(canonical_request(r),
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n" +
                std::string(kEmptyHash));
  EXPECT_EQ(
      string_to_sign(kSuiteDate, "20150830/us-east-1/service/aws4_request", canonical_request(r)),
      "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
      "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(signature(kSuite, "us-east-1", "service", kSuiteDate, r),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(authorization(kSuite, "us-east-1", "service", kSuiteDate, r),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Suite, GetVanillaQueryOrderKeyCase) {
  const Request r = suite_request("GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}});
  EXPECT_EQ(canonical_query(r.query), "Param1=value1&Param2=value2");
  EXPECT_EQ(sha256_hex(canonical_request(r)),
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(signature(kSuite, "us-east-1", "service", kSuiteDate, r),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Suite, GetUtf8AndSpaceArePercentEncoded) {
  const Request utf8 = suite_request("GET", uri_encode("/\xE1\x88\xB4", true));
  EXPECT_EQ(utf8.canonical_uri, "/%E1%88%B4");
  EXPECT_EQ(signature(kSuite, "us-east-1", "service", kSuiteDate, utf8),
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
  const Request space = suite_request("GET", uri_encode("/example space/", true));
  EXPECT_EQ(space.canonical_uri, "/example%20space/");
  EXPECT_EQ(signature(kSuite, "us-east-1", "service", kSuiteDate, space),
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
}

TEST(SigV4Suite, PostVanilla) {
  EXPECT_EQ(signature(kSuite, "us-east-1", "service", kSuiteDate, suite_request("POST", "/")),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4Suite, GetVanillaSignedInTheQuery) {
  Request r{"GET", "/", {}, {{"Host", "example.amazonaws.com"}}, std::string(kEmptyHash)};
  const std::string query = presigned_query(kSuite, "us-east-1", "service", kSuiteDate, 3600, r);
  EXPECT_EQ(query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1"
            "%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600"
            "&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d");
}

// --- The S3 API reference's examples ------------------------------------------------------

const Credentials kS3{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kS3Date = "20130524T000000Z";
constexpr std::string_view kS3Scope = "20130524/us-east-1/s3/aws4_request";

Pairs s3_headers(std::string_view payload_hash) {
  return {{"Host", "examplebucket.s3.amazonaws.com"},
          {"x-amz-date", std::string(kS3Date)},
          {"x-amz-content-sha256", std::string(payload_hash)}};
}

TEST(SigV4S3, GetObjectWithRange) {
  Request r{"GET", "/test.txt", {}, s3_headers(kEmptyHash), std::string(kEmptyHash)};
  r.headers.emplace_back("Range", "bytes=0-9");
  EXPECT_EQ(canonical_request(r),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                std::string(kEmptyHash) +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                std::string(kEmptyHash));
  EXPECT_EQ(string_to_sign(kS3Date, kS3Scope, canonical_request(r)),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(signature(kS3, "us-east-1", "s3", kS3Date, r),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3, PutObject) {
  const std::string body = "Welcome to Amazon S3.";
  const std::string hash = sha256_hex(body);
  EXPECT_EQ(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  Request r{"PUT", uri_encode("/test$file.text", true), {}, s3_headers(hash), hash};
  r.headers.emplace_back("Date", "Fri, 24 May 2013 00:00:00 GMT");
  r.headers.emplace_back("x-amz-storage-class", "REDUCED_REDUNDANCY");
  EXPECT_EQ(r.canonical_uri, "/test%24file.text");
  EXPECT_EQ(signed_headers(r.headers),
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(string_to_sign(kS3Date, kS3Scope, canonical_request(r)),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(signature(kS3, "us-east-1", "s3", kS3Date, r),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4S3, GetBucketLifecycle) {
  const Request r{"GET", "/", {{"lifecycle", ""}}, s3_headers(kEmptyHash), std::string(kEmptyHash)};
  EXPECT_EQ(canonical_query(r.query), "lifecycle=");
  EXPECT_EQ(string_to_sign(kS3Date, kS3Scope, canonical_request(r)),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
  EXPECT_EQ(signature(kS3, "us-east-1", "s3", kS3Date, r),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4S3, ListObjects) {
  const Request r{"GET",
                  "/",
                  {{"prefix", "J"}, {"max-keys", "2"}},
                  s3_headers(kEmptyHash),
                  std::string(kEmptyHash)};
  EXPECT_EQ(canonical_query(r.query), "max-keys=2&prefix=J");
  EXPECT_EQ(string_to_sign(kS3Date, kS3Scope, canonical_request(r)),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
  EXPECT_EQ(signature(kS3, "us-east-1", "s3", kS3Date, r),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4S3, PresignedGetObject) {
  const Request r{"GET", "/test.txt", {}, {{"Host", "examplebucket.s3.amazonaws.com"}}, ""};
  EXPECT_EQ("https://examplebucket.s3.amazonaws.com/test.txt?" +
                presigned_query(kS3, "us-east-1", "s3", kS3Date, 86400, r),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

// --- Helpers the vectors do not reach ------------------------------------------------------

TEST(SigV4, AmzDateIsUtc) {
  EXPECT_EQ(amz_date(1369353600), "20130524T000000Z");
  EXPECT_EQ(amz_date(1440938160), "20150830T123600Z");
}

TEST(SigV4, HeaderValuesAreTrimmedAndTheirBlanksSqueezed) {
  Request a{"GET", "/", {}, {{"Host", "h"}, {"X-A", "  a   b  c "}}, std::string(kEmptyHash)};
  Request b{"GET", "/", {}, {{"host", "h"}, {"x-a", "a b c"}}, std::string(kEmptyHash)};
  EXPECT_EQ(canonical_request(a), canonical_request(b));
}

TEST(SigV4, QueryValuesEncodeEverythingButUnreserved) {
  EXPECT_EQ(canonical_query({{"prefix", "a/b c+d~"}, {"continuation-token", "x=="}}),
            "continuation-token=x%3D%3D&prefix=a%2Fb%20c%2Bd~");
}

TEST(SigV4, ContentMd5OfDeleteBodies) {
  // RFC 1321's test suite: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72.
  EXPECT_EQ(md5_base64("abc"), "kAFQmDzST7DWlj99KOF/cg==");
}

}  // namespace
}  // namespace ig::storage::sigv4
