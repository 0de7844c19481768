// A small JSON reader and string writer for the engine's own files (safetensors headers,
// benchmark records): RFC 8259 parsing into a tree, with errors that name the byte position.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fovea {

struct Json {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;  // a string's value, or a number's literal
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

// "null", "a number", ...: for error messages.
const char* kind_name(Json::Kind kind);

// Parses a whole JSON document. On malformed input throws fovea::Error for `op`:
// "<context> is not valid JSON: <what> at byte N; <hint>". Duplicate object keys and nesting
// deeper than 64 levels are errors.
Json parse_json(std::string_view text, const char* op, const std::string& context, const std::string& hint);

// The member named `key` of an object, or null.
const Json* find_member(const Json& object, const std::string& key);

// Appends `s` as a quoted JSON string.
void write_json_string(std::string& out, const std::string& s);

}  // namespace fovea
