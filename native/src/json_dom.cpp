// json_dom.cpp: simdjson's DOM parser with the loader's limits and messages (see json_dom.h).
#include "json_dom.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_set>
#include <vector>

#include "error.h"

namespace vl::json {

namespace {

namespace dom = simdjson::dom;
namespace ondemand = simdjson::ondemand;

// The loader's own walks over a document (find_duplicate, walk_numbers) recurse once per
// level, and run on koffi's 128 KiB worker stacks: 64 levels is far more than any model file nests
// (a safetensors header nests 3) and keeps those walks a few KiB deep.
constexpr size_t kMaxDepth = 64;

std::string quoted(std::string_view key) { return "\"" + std::string(key) + "\""; }

// A value's place in a document, e.g. "rope_scaling"."factor" or "model.norm.weight"."shape"[1],
// from one segment per level: "key" for an object member, [i] for an array element.
std::string path_text(const std::vector<std::string> &segments) {
  std::string p;
  for (const std::string &seg : segments) p += p.empty() || seg[0] == '[' ? seg : "." + seg;
  return p;
}

// simdjson's DOM parser fails the whole document at a number it cannot hold, without saying where:
// an integer beyond 64 bits (which JSON.parse and Python's json read as the nearest double, and so
// does the loader) or a number beyond a double (1e999). Its On-Demand API reads values
// one at a time, so after such a failure the loader walks the same text with it: every integer
// beyond 64 bits becomes a fix (its byte range and its nearest double, as %.17g) and the document
// is parsed again with the fixes, so that such an integer gets the same message as any integer
// out of range ("vocab_size" must be a positive integer up to 2147483647, got 1.8446744073709552e+19);
// the first number that is not even a double stops the walk with its path.
struct NumberWalk {
  const char *base;                  // the padded copy being walked
  std::vector<std::string> at;       // the path of the value being read, one segment per level
  struct Fix {
    size_t offset, length;
    std::string text;
  };
  std::vector<Fix> fixes;
  std::string path, number;  // the first number that is not a double, when the walk stopped at one
};

// False when the walk stops: at a number that is not a double (walk.number set) or at any other
// error (left to the DOM parser's message).
bool walk_numbers(ondemand::value v, size_t depth, NumberWalk &walk) {
  ondemand::json_type type;
  if (depth > kMaxDepth || v.type().get(type)) return false;
  if (type == ondemand::json_type::number) {
    std::string_view raw = v.raw_json_token();  // the token and the whitespace after it
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r'))
      raw.remove_suffix(1);
    simdjson::ondemand::number_type kind;
    double d = 0;
    ondemand::number n;
    if (v.get_number_type().get(kind) == simdjson::SUCCESS && kind == simdjson::ondemand::number_type::big_integer &&
        v.get_double().get(d) == simdjson::SUCCESS) {
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", d);
      walk.fixes.push_back({size_t(raw.data() - walk.base), raw.size(), text});
      return true;
    }
    if (v.get_number().get(n) == simdjson::SUCCESS) return true;
    walk.path = path_text(walk.at);
    walk.number = std::string(raw);
    return false;
  }
  if (type == ondemand::json_type::object) {
    ondemand::object obj;
    if (v.get_object().get(obj)) return false;
    for (auto field : obj) {
      std::string_view key;
      ondemand::value member;
      if (field.unescaped_key().get(key) || field.value().get(member)) return false;
      walk.at.push_back(quoted(key));
      if (!walk_numbers(member, depth + 1, walk)) return false;
      walk.at.pop_back();
    }
  } else if (type == ondemand::json_type::array) {
    ondemand::array arr;
    if (v.get_array().get(arr)) return false;
    size_t i = 0;
    for (auto item : arr) {
      ondemand::value element;
      if (item.get(element)) return false;
      walk.at.push_back("[" + std::to_string(i++) + "]");
      if (!walk_numbers(element, depth + 1, walk)) return false;
      walk.at.pop_back();
    }
  }
  return true;
}

// The text of `data` with every integer beyond 64 bits written as its nearest double; throws
// Error(VL_ERR_FORMAT) naming a number that is not even a double; "" when the walk fails elsewhere.
std::string with_big_integers_as_doubles(const char *data, size_t size, const std::string &file) {
  ondemand::parser parser;
  if (parser.allocate(std::max<size_t>(size, 1), kMaxDepth)) return "";
  const simdjson::padded_string text(data, size);  // On-Demand reads past the end: a padded copy
  ondemand::document doc;
  ondemand::value root;
  NumberWalk walk{text.data(), {}, {}, "", ""};
  const bool whole = parser.iterate(text).get(doc) == simdjson::SUCCESS && doc.get_value().get(root) == simdjson::SUCCESS &&
                     walk_numbers(root, 0, walk);
  if (!walk.number.empty())
    throw Error(VL_ERR_FORMAT, file + ": " + (walk.path.empty() ? "the value" : walk.path) + ": " + walk.number +
                                   " is not a number vramlab reads (integers must fit in 64 bits, other numbers in a "
                                   "finite double)");
  if (!whole || walk.fixes.empty()) return "";
  std::string fixed;
  size_t from = 0;
  for (const NumberWalk::Fix &f : walk.fixes) {
    fixed.append(data + from, f.offset - from).append(f.text);
    from = f.offset + f.length;
  }
  return fixed.append(data + from, size - from);
}

// simdjson's message without its code: "TAPE_ERROR: The JSON document has ..." -> "The JSON document has ...".
std::string reason(simdjson::error_code err) {
  std::string m = simdjson::error_message(err);
  const size_t colon = m.find(": ");
  return colon == std::string::npos ? m : m.substr(colon + 2);
}

// True, with the key and the path of its object in `at`, at the first key seen twice in one
// object (in file order).
bool find_duplicate(dom::element e, size_t depth, std::vector<std::string> &at, std::string &key) {
  if (depth > kMaxDepth) return false;
  dom::object obj;
  dom::array arr;
  if (e.get_object().get(obj) == simdjson::SUCCESS) {
    std::unordered_set<std::string_view> seen;  // views into the parser's string buffer
    for (const dom::key_value_pair kv : obj) {
      if (!seen.insert(kv.key).second) {
        key = std::string(kv.key);
        return true;
      }
      at.push_back(quoted(kv.key));
      if (find_duplicate(kv.value, depth + 1, at, key)) return true;
      at.pop_back();
    }
  } else if (e.get_array().get(arr) == simdjson::SUCCESS) {
    size_t i = 0;
    for (dom::element item : arr) {
      at.push_back("[" + std::to_string(i++) + "]");
      if (find_duplicate(item, depth + 1, at, key)) return true;
      at.pop_back();
    }
  }
  return false;
}

}  // namespace

Element parse(dom::parser &parser, const char *data, size_t size, const std::string &file, const std::string &what) {
  auto fail = [&](simdjson::error_code err) {
    if (err == simdjson::MEMALLOC)
      throw Error(VL_ERR_OUT_OF_MEMORY, file + ": out of host memory to parse " + std::to_string(size) + " bytes of JSON");
    throw Error(VL_ERR_FORMAT, file + ": " + what + " (" + reason(err) + ")");
  };
  // Allocated here so that the depth limit holds (a parser sized by its first parse gets 1024 levels).
  if (simdjson::error_code err = parser.allocate(std::max(size, simdjson::dom::MINIMAL_DOCUMENT_CAPACITY), kMaxDepth))
    fail(err);
  Element root;
  simdjson::error_code err = parser.parse(data, size).get(root);  // parses a padded copy of `data`
  if (err == simdjson::NUMBER_ERROR || err == simdjson::BIGINT_ERROR) {
    const std::string fixed = with_big_integers_as_doubles(data, size, file);
    if (!fixed.empty()) err = parser.parse(fixed).get(root);
  }
  if (err) fail(err);
  return root;
}

std::string duplicate_key(Element root, const std::string &top) {
  std::vector<std::string> at;
  std::string key;
  if (!find_duplicate(root, 0, at, key)) return "";
  return "'" + key + "' appears twice in " + (at.empty() ? top : path_text(at) + " of " + top);
}

const char *kind_name(Element e) {
  switch (e.type()) {
    case dom::element_type::NULL_VALUE: return "null";
    case dom::element_type::BOOL: return "a boolean";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: return "a number";
    case dom::element_type::STRING: return "a string";
    case dom::element_type::ARRAY: return "an array";
    case dom::element_type::OBJECT: return "an object";
  }
  return "?";
}

bool exact_uint(Element e, uint64_t &out) {
  int64_t i = 0;
  double d = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) {
    if (i < 0) return false;
    out = uint64_t(i);
    return true;
  }
  if (e.is_double() && e.get_double().get(d) == simdjson::SUCCESS && d >= 0 && d <= 9007199254740992.0 &&
      d == std::floor(d)) {
    out = uint64_t(d);
    return true;
  }
  return false;
}

}  // namespace vl::json
