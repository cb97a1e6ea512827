// The one log facility of zerotune's processes: events, warnings and errors reported while
// running, one line per event on stderr (the terminal owner's stream, beside its progress line).
// A line reads "<rank prefix><level prefix><message>":
//   rank prefix  "[rank 3] " once SetRank(3) was called in this process, else nothing;
//   level prefix "debug: ", nothing for info, "warning: ", "error: ".
// The message carries the component's own tag where it has one ("[launcher] ...",
// "[coordinator] ..."; launcher and coordinator share a process) and may hold several lines (a
// failure report); the facade ends it with exactly one newline and flushes it.
// The threshold is ZEROTUNE_LOG_LEVEL (debug, info, warn, error, off; default info), read at
// the first call; SetLevel overrides it.
//
// Thread-safety: every function may be called from any thread; one message is written whole
// (one write under the sink's lock), never interleaved with another thread's. The state is
// process-wide by design (one stderr per process); it is held by spdlog's logger in log.cc.
// Output that a command produces for its caller (CLI results on an std::ostream&) and the
// progress line are not log lines and do not go through here.
#pragma once

#include <iosfwd>
#include <optional>
#include <string_view>

namespace zt::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

// "debug", "info", "warn" (or "warning"), "error", "off", any case; nullopt for anything else.
std::optional<Level> ParseLevel(std::string_view text);

// Lines below `level` are dropped.
void SetLevel(Level level);
Level CurrentLevel();
bool Enabled(Level level);

// Every later line of this process starts with "[rank <rank>] "; a negative rank removes it.
void SetRank(int rank);

void Log(Level level, std::string_view message);
inline void Debug(std::string_view message) { Log(Level::kDebug, message); }
inline void Info(std::string_view message) { Log(Level::kInfo, message); }
inline void Warn(std::string_view message) { Log(Level::kWarn, message); }
inline void Error(std::string_view message) { Log(Level::kError, message); }

// Tests: lines go to `out` (which must outlive its use) instead of stderr; nullptr restores
// stderr. The level and rank prefix are kept.
void SetOutputForTesting(std::ostream* out);

}  // namespace zt::log
