// json.h: a small JSON reader for config.json, safetensors headers and index files. Values are a
// tree; errors carry the byte offset so messages can say where a file is malformed.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vl {

class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  // Parses text; throws std::runtime_error("offset N: what") on malformed input.
  static Json parse(const std::string &text);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  double number() const { return number_; }
  bool boolean() const { return bool_; }
  const std::string &string() const { return string_; }
  const std::vector<Json> &array() const { return array_; }
  // Object members in file order.
  const std::vector<std::pair<std::string, Json>> &members() const { return members_; }
  // The member named key, or nullptr.
  const Json *find(const std::string &key) const;

  static const char *kind_name(Kind k);

 private:
  friend class JsonParser;
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace vl
