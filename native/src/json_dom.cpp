// json_dom.cpp: simdjson's DOM parser with the loader's limits and messages (see json_dom.h).
#include "json_dom.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "error.h"

namespace vl::json {

namespace {

namespace dom = simdjson::dom;
namespace ondemand = simdjson::ondemand;

// The loader's own walks over a document (duplicate_key, find_unreadable_number) recurse once per
// level, and run on koffi's 128 KiB worker stacks: 64 levels is far more than any model file nests
// (a safetensors header nests 3) and keeps those walks a few KiB deep.
constexpr size_t kMaxDepth = 64;

// A value's place in a document, e.g. "rope_scaling"."factor" or "model.norm.weight"."shape"[1]:
// segments are "key" for an object member and [i] for an array element.
std::string join(const std::string &segment, const std::string &rest) {
  return rest.empty() || rest[0] == '[' ? segment + rest : segment + "." + rest;
}
std::string quoted(std::string_view key) { return "\"" + std::string(key) + "\""; }

// simdjson's DOM parser fails the whole document at a number it cannot hold (an integer of 2^64 or
// more, a double beyond 1.8e308) without saying where. Its On-Demand API reads values one at a time,
// so this walks the same text with it to the first number it cannot read: true, with the number's
// path and text. False when there is none (the error was elsewhere) or the walk itself fails.
bool find_unreadable_number(ondemand::value v, size_t depth, std::string &path, std::string &text) {
  ondemand::json_type type;
  if (depth > kMaxDepth || v.type().get(type)) return false;
  if (type == ondemand::json_type::number) {
    ondemand::number n;
    if (v.get_number().get(n) == simdjson::SUCCESS) return false;
    std::string_view raw = v.raw_json_token();  // the token and the whitespace after it
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r'))
      raw.remove_suffix(1);
    text = std::string(raw);
    path.clear();
    return true;
  }
  if (type == ondemand::json_type::object) {
    ondemand::object obj;
    if (v.get_object().get(obj)) return false;
    for (auto field : obj) {
      std::string_view key;
      ondemand::value member;
      if (field.unescaped_key().get(key) || field.value().get(member)) return false;
      const std::string segment = quoted(key);
      if (find_unreadable_number(member, depth + 1, path, text)) {
        path = join(segment, path);
        return true;
      }
    }
  } else if (type == ondemand::json_type::array) {
    ondemand::array arr;
    if (v.get_array().get(arr)) return false;
    size_t i = 0;
    for (auto item : arr) {
      ondemand::value element;
      if (item.get(element)) return false;
      if (find_unreadable_number(element, depth + 1, path, text)) {
        path = join("[" + std::to_string(i) + "]", path);
        return true;
      }
      i++;
    }
  }
  return false;
}

// Throws Error(VL_ERR_FORMAT) naming the number of `data` that simdjson cannot read; returns when
// the walk finds none.
void throw_unreadable_number(const char *data, size_t size, const std::string &file) {
  ondemand::parser parser;
  if (parser.allocate(std::max<size_t>(size, 1), kMaxDepth)) return;
  const simdjson::padded_string text(data, size);  // On-Demand reads past the end: a padded copy
  ondemand::document doc;
  ondemand::value root;
  std::string path, number;
  if (parser.iterate(text).get(doc) || doc.get_value().get(root) || !find_unreadable_number(root, 0, path, number))
    return;
  throw Error(VL_ERR_FORMAT, file + ": " + (path.empty() ? "the value" : path) + ": " + number +
                                 " is not a number vramlab reads (integers must fit in 64 bits, other numbers in a "
                                 "finite double)");
}

// simdjson's message without its code: "TAPE_ERROR: The JSON document has ..." -> "The JSON document has ...".
std::string reason(simdjson::error_code err) {
  std::string m = simdjson::error_message(err);
  const size_t colon = m.find(": ");
  return colon == std::string::npos ? m : m.substr(colon + 2);
}

std::string first_duplicate(dom::element e, size_t depth, std::string &where) {
  if (depth > kMaxDepth) return "";
  dom::object obj;
  dom::array arr;
  if (e.get_object().get(obj) == simdjson::SUCCESS) {
    std::unordered_set<std::string_view> seen;  // views into the parser's string buffer
    for (const dom::key_value_pair kv : obj) {
      if (!seen.insert(kv.key).second) {
        where.clear();
        return std::string(kv.key);
      }
      std::string key = first_duplicate(kv.value, depth + 1, where);
      if (!key.empty()) {
        where = join(quoted(kv.key), where);
        return key;
      }
    }
  } else if (e.get_array().get(arr) == simdjson::SUCCESS) {
    size_t i = 0;
    for (dom::element item : arr) {
      std::string key = first_duplicate(item, depth + 1, where);
      if (!key.empty()) {
        where = join("[" + std::to_string(i) + "]", where);
        return key;
      }
      i++;
    }
  }
  return "";
}

}  // namespace

Element parse(dom::parser &parser, const char *data, size_t size, const std::string &file, const std::string &what) {
  // Allocated here so that the depth limit holds (a parser sized by its first parse gets 1024 levels).
  auto fail = [&](simdjson::error_code err) {
    if (err == simdjson::MEMALLOC)
      throw Error(VL_ERR_OUT_OF_MEMORY, file + ": out of host memory to parse " + std::to_string(size) + " bytes of JSON");
    if (err == simdjson::NUMBER_ERROR || err == simdjson::BIGINT_ERROR) throw_unreadable_number(data, size, file);
    throw Error(VL_ERR_FORMAT, file + ": " + what + " (" + reason(err) + ")");
  };
  if (simdjson::error_code err = parser.allocate(std::max(size, simdjson::dom::MINIMAL_DOCUMENT_CAPACITY), kMaxDepth))
    fail(err);
  Element root;
  if (simdjson::error_code err = parser.parse(data, size).get(root)) fail(err);  // parses a padded copy of `data`
  return root;
}

std::string duplicate_key(Element root, const std::string &top) {
  std::string where;
  const std::string key = first_duplicate(root, 0, where);
  if (key.empty()) return "";
  return "'" + key + "' appears twice in " + (where.empty() ? top : where + " of " + top);
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
