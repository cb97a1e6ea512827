// DeepSpeed-compatible reading of JSON config files. DeepSpeed reads a config path with hjson,
// so public ds_configs carry comments and trailing commas that strict JSON rejects; it also
// rejects duplicate keys anywhere in the file. This reader accepts exactly that dialect:
//
//  - RFC 8259 JSON, plus
//  - comments outside strings: `// ...` and `# ...` to end of line, `/* ... */` (not nested);
//  - one trailing comma before `}` or `]`.
//
// It rejects, with "<source>:<line>:<column>: <what>, expected <what>" (1-based, columns count
// bytes): duplicate keys in one object (naming the key, its object's path and the first
// occurrence), invalid UTF-8, control characters in strings, NaN/Infinity, leading zeros,
// nesting deeper than kMaxJsonDepth, and anything after the top-level value. The other hjson
// extensions (quoteless strings, multi-line strings, omitted commas) are not accepted.
//
// Numbers: an integer literal that fits int64 (or uint64) stays an integer; any literal with a
// fraction or exponent is a double (`2e8` is the double 200000000.0; integer fields accept
// integral doubles later, see ds_schema.h). Thread-safe, no global state; never throws.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

inline constexpr int kMaxJsonDepth = 256;

// Parses `text`; `source_name` (a file path or "<string>") prefixes every error message.
// InvalidArgument on any syntax error.
absl::StatusOr<nlohmann::json> ReadTolerantJson(absl::string_view text,
                                                absl::string_view source_name);

// Reads and parses the file at `path`. NotFound / PermissionDenied naming the path when it
// cannot be read; InvalidArgument on syntax errors.
absl::StatusOr<nlohmann::json> ReadTolerantJsonFile(const std::string& path);

}  // namespace zt::configs
