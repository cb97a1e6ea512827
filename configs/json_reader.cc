#include "configs/json_reader.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::configs {
namespace {

using nlohmann::json;

// Recursive-descent parser over the bytes of one document. Positions are byte offsets; line
// and column are computed only when an error is reported.
class TolerantParser {
 public:
  TolerantParser(absl::string_view text, absl::string_view source) : text_(text), source_(source) {}

  absl::StatusOr<json> ParseDocument() {
    json value;
    absl::Status status = SkipSpace();
    if (status.ok()) status = ParseValue(value, "", 0);
    if (status.ok()) status = SkipSpace();
    if (status.ok() && pos_ < text_.size()) {
      status = ErrorAt(pos_, "unexpected text after the top-level value", "end of input");
    }
    if (!status.ok()) return status;
    return value;
  }

 private:
  std::pair<int, int> LineColumn(size_t offset) const {
    int line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return {line, column};
  }

  absl::Status ErrorAt(size_t offset, absl::string_view what, absl::string_view expected) const {
    auto [line, column] = LineColumn(offset);
    return absl::InvalidArgumentError(absl::StrCat(source_, ":", line, ":", column, ": ", what,
                                                   expected.empty() ? "" : ", expected ",
                                                   expected));
  }

  absl::Status UnexpectedAt(size_t offset, absl::string_view expected) const {
    if (offset >= text_.size()) return ErrorAt(offset, "unexpected end of input", expected);
    unsigned char c = static_cast<unsigned char>(text_[offset]);
    std::string shown = (c >= 0x20 && c < 0x7f) ? absl::StrCat("'", std::string(1, c), "'")
                                                : absl::StrCat("byte 0x", absl::Hex(c));
    return ErrorAt(offset, absl::StrCat("unexpected ", shown), expected);
  }

  // Whitespace and the three comment forms DeepSpeed's hjson reading tolerates.
  absl::Status SkipSpace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '#' || (c == '/' && Peek(1) == '/')) {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (c == '/' && Peek(1) == '*') {
        size_t start = pos_;
        size_t end = text_.find("*/", pos_ + 2);
        if (end == absl::string_view::npos) {
          return ErrorAt(start, "unterminated /* comment", "*/");
        }
        pos_ = end + 2;
      } else {
        break;
      }
    }
    return absl::OkStatus();
  }

  char Peek(size_t ahead) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  absl::Status ParseValue(json& out, const std::string& path, int depth) {
    if (depth > kMaxJsonDepth) {
      return ErrorAt(pos_, absl::StrCat("nesting deeper than ", kMaxJsonDepth, " levels"),
                     "a shallower document");
    }
    if (pos_ >= text_.size()) return UnexpectedAt(pos_, "a value");
    char c = text_[pos_];
    if (c == '{') return ParseObject(out, path, depth);
    if (c == '[') return ParseArray(out, path, depth);
    if (c == '"') {
      std::string s;
      absl::Status status = ParseString(s);
      if (status.ok()) out = std::move(s);
      return status;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    for (auto [word, value] : {std::pair<absl::string_view, json>{"true", true},
                               {"false", false},
                               {"null", nullptr}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        out = value;
        return absl::OkStatus();
      }
    }
    return UnexpectedAt(pos_, "a value (object, array, string, number, true, false or null)");
  }

  absl::Status ParseObject(json& out, const std::string& path, int depth) {
    out = json::object();
    std::map<std::string, size_t> seen;  // key -> offset of its first occurrence
    ++pos_;                              // '{'
    while (true) {
      ZT_RETURN_IF_ERROR(SkipSpace());
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      if (pos_ >= text_.size() || text_[pos_] != '"') return UnexpectedAt(pos_, "'\"' or '}'");
      size_t key_offset = pos_;
      std::string key;
      ZT_RETURN_IF_ERROR(ParseString(key));
      std::string child_path = path.empty() ? key : absl::StrCat(path, ".", key);
      auto [it, inserted] = seen.emplace(key, key_offset);
      if (!inserted) {
        auto [line, column] = LineColumn(it->second);
        return ErrorAt(key_offset,
                       absl::StrCat("duplicate key \"", key, "\" in ",
                                    path.empty() ? "the top-level object" : path,
                                    " (first at ", line, ":", column, ")"),
                       "each key once per object, as DeepSpeed requires");
      }
      ZT_RETURN_IF_ERROR(SkipSpace());
      if (pos_ >= text_.size() || text_[pos_] != ':') return UnexpectedAt(pos_, "':'");
      ++pos_;
      ZT_RETURN_IF_ERROR(SkipSpace());
      json value;
      ZT_RETURN_IF_ERROR(ParseValue(value, child_path, depth + 1));
      out[key] = std::move(value);
      ZT_RETURN_IF_ERROR(SkipSpace());
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;  // a trailing comma is allowed: the loop then sees '}'
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      return UnexpectedAt(pos_, "',' or '}'");
    }
  }

  absl::Status ParseArray(json& out, const std::string& path, int depth) {
    out = json::array();
    ++pos_;  // '['
    while (true) {
      ZT_RETURN_IF_ERROR(SkipSpace());
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      json value;
      ZT_RETURN_IF_ERROR(
          ParseValue(value, absl::StrCat(path, "[", out.size(), "]"), depth + 1));
      out.push_back(std::move(value));
      ZT_RETURN_IF_ERROR(SkipSpace());
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      return UnexpectedAt(pos_, "',' or ']'");
    }
  }

  static void AppendUtf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  absl::Status ParseHex4(uint32_t& out) {
    out = 0;
    for (int i = 0; i < 4; ++i) {
      if (pos_ >= text_.size()) return UnexpectedAt(pos_, "4 hex digits after \\u");
      char c = text_[pos_];
      int digit = (c >= '0' && c <= '9')   ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                           : -1;
      if (digit < 0) return UnexpectedAt(pos_, "4 hex digits after \\u");
      out = out * 16 + static_cast<uint32_t>(digit);
      ++pos_;
    }
    return absl::OkStatus();
  }

  absl::Status ParseEscape(std::string& out) {
    size_t start = pos_ - 1;  // the backslash
    if (pos_ >= text_.size()) return UnexpectedAt(pos_, "an escape character");
    char c = text_[pos_++];
    switch (c) {
      case '"': out.push_back('"'); return absl::OkStatus();
      case '\\': out.push_back('\\'); return absl::OkStatus();
      case '/': out.push_back('/'); return absl::OkStatus();
      case 'b': out.push_back('\b'); return absl::OkStatus();
      case 'f': out.push_back('\f'); return absl::OkStatus();
      case 'n': out.push_back('\n'); return absl::OkStatus();
      case 'r': out.push_back('\r'); return absl::OkStatus();
      case 't': out.push_back('\t'); return absl::OkStatus();
      case 'u': break;
      default: return UnexpectedAt(pos_ - 1, "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
    }
    uint32_t cp = 0;
    ZT_RETURN_IF_ERROR(ParseHex4(cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return ErrorAt(start, "lone low surrogate in \\u escape", "a high surrogate first");
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") {
        return ErrorAt(start, "high surrogate without its low surrogate", "\\uDC00-\\uDFFF");
      }
      pos_ += 2;
      uint32_t low = 0;
      ZT_RETURN_IF_ERROR(ParseHex4(low));
      if (low < 0xDC00 || low > 0xDFFF) {
        return ErrorAt(start, "high surrogate without its low surrogate", "\\uDC00-\\uDFFF");
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(cp, out);
    return absl::OkStatus();
  }

  // Length of the valid UTF-8 sequence starting at pos_, or 0.
  size_t Utf8Length() const {
    auto byte = [&](size_t i) -> unsigned {
      return pos_ + i < text_.size() ? static_cast<unsigned char>(text_[pos_ + i]) : 0u;
    };
    auto cont = [&](size_t i) { return (byte(i) & 0xC0) == 0x80; };
    unsigned b0 = byte(0);
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
      if (!cont(1) || !cont(2)) return 0;
      if (b0 == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
      if (b0 == 0xED && byte(1) >= 0xA0) return 0;  // surrogates
      return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (b0 == 0xF0 && byte(1) < 0x90) return 0;
      if (b0 == 0xF4 && byte(1) >= 0x90) return 0;
      return 4;
    }
    return 0;
  }

  absl::Status ParseString(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) return UnexpectedAt(pos_, "closing '\"'");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c == '\\') {
        ++pos_;
        ZT_RETURN_IF_ERROR(ParseEscape(out));
      } else if (c < 0x20) {
        return ErrorAt(pos_, absl::StrCat("control character 0x", absl::Hex(c), " in a string"),
                       "it escaped (\\n, \\t, \\u00XX)");
      } else if (c < 0x80) {
        out.push_back(static_cast<char>(c));
        ++pos_;
      } else {
        size_t n = Utf8Length();
        if (n == 0) return ErrorAt(pos_, "invalid UTF-8 in a string", "UTF-8 text");
        out.append(text_.data() + pos_, n);
        pos_ += n;
      }
    }
  }

  absl::Status ParseNumber(json& out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t n = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_, ++n;
      return n;
    };
    if (text_[pos_] == '-') ++pos_;
    if (Peek(0) == '0' && Peek(1) >= '0' && Peek(1) <= '9') {
      return ErrorAt(pos_, "leading zero in a number", "a JSON number");
    }
    if (digits() == 0) return UnexpectedAt(pos_, "a digit");
    bool is_integer = true;
    if (Peek(0) == '.') {
      ++pos_;
      is_integer = false;
      if (digits() == 0) return UnexpectedAt(pos_, "a digit after '.'");
    }
    if (Peek(0) == 'e' || Peek(0) == 'E') {
      ++pos_;
      is_integer = false;
      if (Peek(0) == '+' || Peek(0) == '-') ++pos_;
      if (digits() == 0) return UnexpectedAt(pos_, "a digit in the exponent");
    }
    std::string literal(text_.substr(start, pos_ - start));
    errno = 0;
    if (is_integer) {
      char* end = nullptr;
      if (literal[0] == '-') {
        long long v = std::strtoll(literal.c_str(), &end, 10);
        if (errno == 0) {
          out = static_cast<int64_t>(v);
          return absl::OkStatus();
        }
      } else {
        unsigned long long v = std::strtoull(literal.c_str(), &end, 10);
        if (errno == 0) {
          if (v <= static_cast<unsigned long long>(INT64_MAX)) {
            out = static_cast<int64_t>(v);
          } else {
            out = static_cast<uint64_t>(v);
          }
          return absl::OkStatus();
        }
      }
      errno = 0;  // too large for 64 bits: keep it as a double like Python's float()
    }
    double d = std::strtod(literal.c_str(), nullptr);
    if (errno == ERANGE && (d > 1.0 || d < -1.0)) {
      return ErrorAt(start, absl::StrCat("number ", literal, " is out of range"),
                     "a finite number");
    }
    out = d;
    return absl::OkStatus();
  }

  absl::string_view text_;
  absl::string_view source_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<nlohmann::json> ReadTolerantJson(absl::string_view text,
                                                absl::string_view source_name) {
  return TolerantParser(text, source_name).ParseDocument();
}

absl::StatusOr<nlohmann::json> ReadTolerantJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return errno == EACCES ? absl::PermissionDeniedError(absl::StrCat(path, ": permission denied"))
                           : absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return ReadTolerantJson(buffer.str(), path);
}

}  // namespace zt::configs
