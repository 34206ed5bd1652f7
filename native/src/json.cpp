// json.cpp: a strict recursive-descent JSON parser (RFC 8259) with a nesting limit, so a
// hostile header can neither overflow the stack nor hang the loader.
#include "json.h"

#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace vl {

namespace {
constexpr int kMaxDepth = 64;
}

class JsonParser {
 public:
  explicit JsonParser(const std::string &t) : t_(t) {}

  Json parse_document() {
    Json v = value(0);
    skip_ws();
    if (i_ != t_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  const std::string &t_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string &what) {
    throw std::runtime_error("offset " + std::to_string(i_) + ": " + what);
  }
  void skip_ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) i_++;
  }
  char peek() {
    skip_ws();
    if (i_ >= t_.size()) fail("unexpected end of JSON");
    return t_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    i_++;
  }
  bool literal(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (t_.compare(i_, n, word) == 0) { i_ += n; return true; }
    return false;
  }

  Json value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
    Json v;
    char c = peek();
    if (c == '{') {
      v.kind_ = Json::Kind::Object;
      i_++;
      if (peek() == '}') { i_++; return v; }
      for (;;) {
        if (peek() != '"') fail("expected a string key");
        std::string key = string();
        expect(':');
        v.members_.emplace_back(std::move(key), value(depth + 1));
        char d = peek();
        i_++;
        if (d == '}') break;
        if (d != ',') { i_--; fail("expected ',' or '}'"); }
      }
    } else if (c == '[') {
      v.kind_ = Json::Kind::Array;
      i_++;
      if (peek() == ']') { i_++; return v; }
      for (;;) {
        v.array_.push_back(value(depth + 1));
        char d = peek();
        i_++;
        if (d == ']') break;
        if (d != ',') { i_--; fail("expected ',' or ']'"); }
      }
    } else if (c == '"') {
      v.kind_ = Json::Kind::String;
      v.string_ = string();
    } else if (literal("true")) {
      v.kind_ = Json::Kind::Bool; v.bool_ = true;
    } else if (literal("false")) {
      v.kind_ = Json::Kind::Bool;
    } else if (literal("null")) {
      v.kind_ = Json::Kind::Null;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind_ = Json::Kind::Number;
      v.number_ = number();
    } else if (literal("NaN")) {  // Python's json writes these; configs sometimes hold them
      v.kind_ = Json::Kind::Number; v.number_ = std::numeric_limits<double>::quiet_NaN();
    } else if (literal("Infinity")) {
      v.kind_ = Json::Kind::Number; v.number_ = std::numeric_limits<double>::infinity();
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    return v;
  }

  double number() {
    size_t start = i_;
    if (t_[i_] == '-') i_++;
    auto digits = [&] { size_t s = i_; while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') i_++; return i_ > s; };
    if (!digits()) fail("malformed number");
    if (i_ < t_.size() && t_[i_] == '.') { i_++; if (!digits()) fail("malformed number"); }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      i_++;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) i_++;
      if (!digits()) fail("malformed number");
    }
    return std::strtod(t_.substr(start, i_ - start).c_str(), nullptr);
  }

  static void put_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xc0 | (cp >> 6)); out += char(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) { out += char(0xe0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3f)); out += char(0x80 | (cp & 0x3f)); }
    else { out += char(0xf0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3f)); out += char(0x80 | ((cp >> 6) & 0x3f)); out += char(0x80 | (cp & 0x3f)); }
  }

  uint32_t hex4() {
    if (i_ + 4 > t_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
      char h = t_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f') v |= uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= uint32_t(h - 'A' + 10);
      else fail("bad \\u escape");
    }
    return v;
  }

  std::string string() {
    i_++;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size()) fail("unterminated string");
      char c = t_[i_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) { i_--; fail("control character in string"); }
      if (c != '\\') { out += c; continue; }
      if (i_ >= t_.size()) fail("unterminated string");
      char e = t_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00 && i_ + 1 < t_.size() && t_[i_] == '\\' && t_[i_ + 1] == 'u') {
            i_ += 2;
            uint32_t lo = hex4();
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          put_utf8(out, cp);
          break;
        }
        default: i_--; fail("bad escape in string");
      }
    }
    return out;
  }
};

Json Json::parse(const std::string &text) { return JsonParser(text).parse_document(); }

const Json *Json::find(const std::string &key) const {
  for (const auto &m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

const char *Json::kind_name(Kind k) {
  switch (k) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Number: return "a number";
    case Kind::String: return "a string";
    case Kind::Array: return "an array";
    case Kind::Object: return "an object";
  }
  return "?";
}

}  // namespace vl
