// JSON text exactly as Python's json.dumps(value, ensure_ascii=False) writes it, which is what
// transformers' `tojson` Jinja filter emits in chat templates: ", " and ": " separators, keys in
// document order, non-ASCII characters as is, control characters as \uXXXX (\n, \r, \t, \b, \f
// by name), floats as Python's repr.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace zt::worker::data {

std::string PythonJsonDumps(const nlohmann::ordered_json& value);

}  // namespace zt::worker::data
