#include "api/multipart.hpp"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace ig::api {
namespace {

using namespace std::string_literals;

const std::string kType = "multipart/form-data; boundary=XyZ";

// A part as openai-node writes it: disposition, optional Content-Type, blank line, body.
std::string part(const std::string& disposition, const std::string& body,
                 const std::string& type = "") {
  std::string out = "--XyZ\r\nContent-Disposition: " + disposition + "\r\n";
  if (!type.empty()) {
    out += "Content-Type: " + type + "\r\n";
  }
  return out + "\r\n" + body + "\r\n";
}
const std::string kClose = "--XyZ--\r\n";

std::string form() {
  return part(R"(form-data; name="prompt")", "a red fox") +
         part(R"(form-data; name="image"; filename="input.png")", "\x89PNG\r\n\x1a\n\0\0bin"s,
              "image/png") +
         kClose;
}

void expect_invalid(const std::string& type, const std::string& body,
                    const std::string& message_part, const MultipartLimits& limits = {}) {
  auto r = parse_multipart(type, body, limits);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidRequest);
  EXPECT_NE(r.error().message.find(message_part), std::string::npos)
      << "message: " << r.error().message;
}

TEST(MultipartBoundary, FromTheHeader) {
  EXPECT_EQ(*multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*multipart_boundary("Multipart/Form-Data;BOUNDARY=\"a b:c\""), "a b:c");
  EXPECT_EQ(
      *multipart_boundary("multipart/form-data; charset=utf-8; boundary=----formdata-undici-0"),
      "----formdata-undici-0");
  EXPECT_EQ(*multipart_boundary(" multipart/form-data ;  boundary=\"q\\:x\" "), "q:x");
  EXPECT_EQ(*multipart_boundary("multipart/form-data; boundary=" + std::string(70, 'a')),
            std::string(70, 'a'));
}

TEST(MultipartBoundary, RejectsBadHeaders) {
  auto msg = [](std::string_view header) {
    auto r = multipart_boundary(header);
    EXPECT_FALSE(r) << header;
    EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidRequest);
    return r.error().message;
  };
  EXPECT_NE(msg("application/json").find("must be multipart/form-data"), std::string::npos);
  EXPECT_NE(msg("multipart/mixed; boundary=a").find("must be multipart/form-data"),
            std::string::npos);
  EXPECT_NE(msg("").find("must be multipart/form-data"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data").find("no boundary"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; charset=utf-8").find("no boundary"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary=").find("empty value"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary=\"\"").find("1 to 70"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary=" + std::string(71, 'a')).find("1 to 70"),
            std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary=a@b").find("does not allow"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary=\"ab \"").find("does not allow"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary=\"abc").find("unterminated"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary=a; boundary=b").find("twice"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data boundary=a").find("must be multipart/form-data"),
            std::string::npos);
  EXPECT_NE(msg("multipart/form-data; =a").find("without a name"), std::string::npos);
  EXPECT_NE(msg("multipart/form-data; boundary").find("has no value"), std::string::npos);
}

TEST(Multipart, ParsesTextAndFileParts) {
  auto r = parse_multipart(kType, form());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const Part& text = (*r)[0];
  EXPECT_EQ(text.name, "prompt");
  EXPECT_EQ(text.body, "a red fox");
  EXPECT_FALSE(text.has_filename);
  EXPECT_EQ(text.content_type, "");
  const Part& file = (*r)[1];
  EXPECT_EQ(file.name, "image");
  EXPECT_TRUE(file.has_filename);
  EXPECT_EQ(file.filename, "input.png");
  EXPECT_EQ(file.content_type, "image/png");
  EXPECT_EQ(file.body, "\x89PNG\r\n\x1a\n\0\0bin"s);  // CRLF and NUL bytes kept
}

TEST(Multipart, PreambleEpilogueAndPaddingAreIgnored) {
  const std::string body = "This is a preamble.\r\nIt has lines.\r\n" +
                           std::string("--XyZ  \t\r\n") +
                           "Content-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n" +
                           "--XyZ--\r\nepilogue that is not a part\r\n--XyZ\r\n";
  auto r = parse_multipart(kType, body);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].body, "1");
  // The close delimiter may end the body without a CRLF.
  auto bare = parse_multipart(kType, part("form-data; name=a", "1") + "--XyZ--");
  ASSERT_TRUE(bare);
  EXPECT_EQ((*bare)[0].name, "a");
}

TEST(Multipart, HeadersAreCaseInsensitive) {
  const std::string body =
      "--XyZ\r\ncontent-disposition: FORM-DATA; NAME=\"n\"; FileName=\"f.webp\"\r\n"
      "CONTENT-TYPE:image/webp\r\nX-Other: ignored\r\ncontent-transfer-encoding: BINARY\r\n\r\n"
      "x\r\n--XyZ--\r\n";
  auto r = parse_multipart(kType, body);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].name, "n");
  EXPECT_EQ((*r)[0].filename, "f.webp");
  EXPECT_EQ((*r)[0].content_type, "image/webp");
}

TEST(Multipart, DispositionParameters) {
  auto one = [](const std::string& disposition) {
    auto r = parse_multipart(kType, part(disposition, "v") + kClose);
    EXPECT_TRUE(r) << disposition << ": " << (r ? "" : r.error().message);
    return r ? (*r)[0] : Part{};
  };
  EXPECT_EQ(one(R"(form-data; name="a\"b"; filename="x\"y\\z.png")").name, "a\"b");
  EXPECT_EQ(one(R"(form-data; name="a"; filename="x\"y\\z.png")").filename, "x\"y\\z.png");
  // Browsers and undici percent-encode quotes instead; the name is kept as sent.
  EXPECT_EQ(one(R"(form-data; name="a"; filename="say %22hi%22.png")").filename,
            "say %22hi%22.png");
  EXPECT_EQ(one(R"(form-data; name="a"; filename="semi;colon.png")").filename, "semi;colon.png");
  EXPECT_EQ(one("form-data;name=image[];filename=in.png").name, "image[]");
  EXPECT_EQ(one("form-data; name = \"spaced\" ;").name, "spaced");
  const Part empty_filename = one(R"(form-data; name="a"; filename="")");
  EXPECT_TRUE(empty_filename.has_filename);
  EXPECT_EQ(empty_filename.filename, "");
  EXPECT_EQ(one(R"(form-data; name="a"; filename*=UTF-8''x.png)").filename, "");
  EXPECT_EQ(one("form-data; name=\"\xE5\xAD\x97\"").name, "\xE5\xAD\x97");
}

TEST(Multipart, BoundaryLookalikesInsideABodyAreContent) {
  const std::string tricky = "--XyZ at line start is fine without CRLF\r\n-XyZ\r\n--XyY\r\n--Xy";
  auto r = parse_multipart(kType, part("form-data; name=a", tricky) + kClose);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].body, tricky);
}

TEST(Multipart, EmptyBodiesAndManyParts) {
  std::string body;
  for (int i = 0; i < 64; ++i) {
    body += part("form-data; name=f" + std::to_string(i), "");
  }
  auto r = parse_multipart(kType, body + kClose);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 64u);
  EXPECT_EQ((*r)[63].name, "f63");
  EXPECT_EQ((*r)[63].body, "");
  expect_invalid(kType, body + part("form-data; name=x", "") + kClose, "more than 64 parts");
  expect_invalid(kType, part("form-data; name=a", "") + part("form-data; name=b", "") + kClose,
                 "more than 1 parts", MultipartLimits{1, 1024});
}

TEST(Multipart, HeaderSizeLimit) {
  const std::string padded = "form-data; name=a; x=\"" + std::string(200, 'p') + "\"";
  const MultipartLimits small{64, 100};
  expect_invalid(kType, part(padded, "v") + kClose, "headers exceed 100 bytes", small);
  EXPECT_TRUE(parse_multipart(kType, part(padded, "v") + kClose));  // default 8 KiB
  // Exactly at the limit is accepted.
  const std::string line = "Content-Disposition: form-data; name=a";
  const MultipartLimits exact{64, line.size()};
  EXPECT_TRUE(parse_multipart(kType, "--XyZ\r\n" + line + "\r\n\r\nv\r\n" + kClose, exact));
  const MultipartLimits one_less{64, line.size() - 1};
  expect_invalid(kType, "--XyZ\r\n" + line + "\r\n\r\nv\r\n" + kClose, "headers exceed", one_less);
}

TEST(Multipart, StructuralErrors) {
  const std::string a = part("form-data; name=a", "1");
  expect_invalid(kType, a, "ends without the closing boundary");
  expect_invalid(kType, a.substr(0, a.size() - 2), "ends without the closing boundary");
  expect_invalid(kType, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1",
                 "ends without the closing boundary");
  expect_invalid(kType, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n",
                 "not followed by an empty line");
  expect_invalid(kType, "--XyZ", "ends without the closing boundary");
  expect_invalid(kType, "", "does not occur in the body");
  expect_invalid(kType, "just some text", "does not occur in the body");
  expect_invalid(kType, "--XyZ--\r\n", "no parts");
  expect_invalid(kType, "--XyZ\nContent-Disposition: form-data; name=a\n\n1\n--XyZ--\n",
                 "must end with CRLF");
  expect_invalid(kType,
                 "--XyZ\r\nContent-Disposition: form-data; name=a\nX-A: b\r\n\r\n1\r\n" + kClose,
                 "control character");
  expect_invalid(kType, a + "--XyZjunk\r\n" + kClose, "must end with CRLF");
  expect_invalid(kType, a + "--XyZ-\r\n" + kClose, "must end with CRLF");
}

TEST(Multipart, PartHeaderErrors) {
  auto with_headers = [](const std::string& headers) {
    return "--XyZ\r\n" + headers + "\r\n\r\nv\r\n" + kClose;
  };
  expect_invalid(kType, "--XyZ\r\n\r\nv\r\n" + kClose, "no Content-Disposition");
  expect_invalid(kType, with_headers("Content-Type: text/plain"), "no Content-Disposition");
  expect_invalid(kType, with_headers("Content-Disposition: attachment; name=a"),
                 "must be form-data");
  expect_invalid(kType, with_headers("Content-Disposition: form-data"), "has no name");
  expect_invalid(kType, with_headers("Content-Disposition: form-data; filename=a.png"),
                 "has no name");
  expect_invalid(kType, with_headers("Content-Disposition: form-data; name=\"\""), "has no name");
  expect_invalid(kType, with_headers("Content-Disposition: form-data; name=a; name=b"), "twice");
  expect_invalid(kType, with_headers("Content-Disposition: form-data; name=\"a"), "unterminated");
  expect_invalid(kType, with_headers("Content-Disposition: form-data; name=a b"),
                 "where ';' was expected");
  expect_invalid(kType,
                 with_headers("Content-Disposition: form-data; name=a\r\nContent-Disposition: "
                              "form-data; name=b"),
                 "two Content-Disposition");
  expect_invalid(kType,
                 with_headers("Content-Disposition: form-data; name=a\r\nContent-Type: a\r\n"
                              "Content-Type: b"),
                 "two Content-Type");
  expect_invalid(kType, with_headers("Content-Disposition: form-data; name=a\r\n filename=b"),
                 "folded");
  expect_invalid(kType, with_headers("Content-Disposition form-data; name=a"), "no ':'");
  expect_invalid(kType, with_headers("Bad Name: x\r\nContent-Disposition: form-data; name=a"),
                 "invalid name");
  expect_invalid(kType,
                 with_headers("Content-Disposition: form-data; name=a\r\n"
                              "Content-Transfer-Encoding: base64"),
                 "not supported");
  expect_invalid(kType, with_headers("Content-Disposition: form-data; name=\"a\0b\""s),
                 "control character");
}

TEST(Multipart, EchoedHeaderTextIsPrintableAscii) {
  expect_invalid("\xff\xfe/x\x01", form(),
                 "must be multipart/form-data, got '" + std::string(2, '?') + "/x?'");
  expect_invalid(kType, part("\xe5\xad\x97; name=a", "v") + kClose,
                 "got '" + std::string(3, '?') + "'");
  expect_invalid(kType,
                 "--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: " +
                     std::string(100, 'b') + "\r\n\r\nv\r\n" + kClose,
                 "'" + std::string(64, 'b') + "...' is not supported");
}

TEST(Multipart, ErrorsComeFromTheContentTypeFirst) {
  expect_invalid("text/plain", form(), "must be multipart/form-data");
  expect_invalid("multipart/form-data; boundary=Other", form(), "does not occur");
}

// Fuzz-style: every prefix, and many random mutations, of valid bodies must yield either
// parts or an error, never a crash (run under -DIG_SANITIZE=ON for UB checks).
TEST(MultipartFuzz, EveryTruncationFailsCleanly) {
  const std::string body = "preamble\r\n" + form() + "epilogue";
  const std::size_t closed = body.find("--XyZ--") + std::string("--XyZ--").size();
  for (std::size_t n = 0; n <= body.size(); ++n) {
    auto r = parse_multipart(kType, std::string_view(body).substr(0, n));
    if (n < closed) {
      EXPECT_FALSE(r) << "prefix of " << n << " bytes parsed";
    } else {
      ASSERT_TRUE(r) << n;
      EXPECT_EQ(r->size(), 2u);
    }
  }
}

TEST(MultipartFuzz, RandomMutationsNeverCrash) {
  std::mt19937 rng(20240611);  // fixed: a failure is reproducible
  const std::string alphabet = "-\r\n\"\\;:= XyZabc\0\x80\xff"s;
  const std::vector<std::string> seeds = {
      form(),
      "pre\r\n" + part(R"(form-data; name="image[]"; filename="a\"b.png")", "\r\n--XyZ", "x/y") +
          part("form-data; name=mask; filename=m.png", std::string(300, '\r')) + kClose,
      part("form-data; name=a", "") + "--XyZ--",
  };
  std::size_t parsed = 0;
  std::size_t failed = 0;
  for (int iteration = 0; iteration < 30000; ++iteration) {
    std::string body = seeds[iteration % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % (body.size() + 1);
      switch (rng() % 5) {
        case 0:
          body.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          body.erase(std::min(at, body.size() - 1), 1 + rng() % 8);
          break;
        case 2:
          body[std::min(at, body.size() - 1)] = static_cast<char>(rng() % 256);
          break;
        case 3:
          body.insert(at, rng() % 2 ? "\r\n--XyZ\r\n" : "\r\n--XyZ--");
          break;
        default:
          body.resize(at);
          break;
      }
    }
    std::string type = kType;
    if (iteration % 7 == 0) {
      type.insert(rng() % (type.size() + 1), 1, alphabet[rng() % alphabet.size()]);
    }
    const MultipartLimits limits{1 + rng() % 4, 16 + rng() % 128};
    auto r = parse_multipart(type, body, limits);
    if (r) {
      ++parsed;
      EXPECT_LE(r->size(), limits.max_parts);
      for (const Part& p : *r) {
        EXPECT_FALSE(p.name.empty());
      }
    } else {
      ++failed;
      EXPECT_FALSE(r.error().message.empty());
    }
  }
  // Both outcomes must occur, or the mutations are not exercising the parser.
  EXPECT_GT(parsed, 100u);
  EXPECT_GT(failed, 100u);
}

}  // namespace
}  // namespace ig::api
