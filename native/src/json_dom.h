// json_dom.h: config.json, model.safetensors.index.json and safetensors headers are parsed with
// simdjson's DOM parser (the @nozbe/simdjson npm package; docs/architecture.md says why a C++ library
// in the core), which validates UTF-8 and the whole JSON grammar before the loader reads a value.
// This adds what the loader needs on top of it: a depth limit, one-line errors naming the file,
// duplicate keys (simdjson keeps both) and exact integers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "simdjson.h"

namespace vl::json {

using Element = simdjson::dom::element;

// Parses `size` bytes at `data` into `parser`; the element stays valid while the parser lives and
// is not reused. Objects and arrays nest at most 64 deep (what the loader walks recursively). An
// integer beyond 64 bits is read as its nearest double (as JSON.parse does). Throws
// Error(VL_ERR_FORMAT) "FILE: WHAT (simdjson's reason)", or, for a number beyond a double, one
// naming where it is: `FILE: "rope_parameters"."rope_theta": 1e999 is not a number vramlab reads (...)`.
Element parse(simdjson::dom::parser &parser, const char *data, size_t size, const std::string &file,
              const std::string &what);

// "" when every object in `root` has distinct keys; else, for the first key seen twice in file
// order, `'KEY' appears twice in TOP` (an object at the top) or `'KEY' appears twice in "a"."b" of
// TOP`. JSON readers disagree on which of the two counts (Python's json keeps the last, a lookup
// in simdjson finds the first), so the loader refuses the file instead of picking one.
std::string duplicate_key(Element root, const std::string &top);

// "a number", "a string", "an object", ... for messages such as `"x" must be a number, not a string`.
const char *kind_name(Element e);

// Whether `e` is a non-negative integer that fits in int64 (or a double with an integral value up
// to 2^53, which some JSON writers emit for integers), stored into `out`.
bool exact_uint(Element e, uint64_t &out);

}  // namespace vl::json
