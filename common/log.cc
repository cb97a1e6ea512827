#include "common/log.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace zt::log {
namespace {

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::string_view LevelPrefix(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug: ";
    case Level::kWarn:
      return "warning: ";
    case Level::kError:
      return "error: ";
    case Level::kInfo:
    case Level::kOff:
      break;
  }
  return "";
}

// The message is formatted here (prefixes included), so the sink's pattern is the bare text.
std::shared_ptr<spdlog::logger> NewLogger(spdlog::sink_ptr sink, spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>("zerotune", std::move(sink));
  logger->set_pattern("%v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  return logger;
}

// The process's logger. Not registered in spdlog's registry: nothing else can reconfigure it.
class Facility {
 public:
  Facility() {
    Level level = Level::kInfo;
    std::string complaint;
    if (const char* text = std::getenv("ZEROTUNE_LOG_LEVEL"); text != nullptr && *text != '\0') {
      if (std::optional<Level> parsed = ParseLevel(text)) {
        level = *parsed;
      } else {
        complaint = absl::StrCat("ZEROTUNE_LOG_LEVEL '", text,
                                 "' is not one of debug, info, warn, error, off; logging at info");
      }
    }
    level_.store(level);
    {
      absl::MutexLock lock(&mu_);
      logger_ = NewLogger(std::make_shared<spdlog::sinks::stderr_sink_mt>(), ToSpdlog(level));
    }
    if (!complaint.empty()) Write(Level::kWarn, complaint);
  }

  void SetLevel(Level level) {
    level_.store(level);
    absl::MutexLock lock(&mu_);
    logger_->set_level(ToSpdlog(level));
  }
  Level level() const { return level_.load(); }
  void SetRank(int rank) { rank_.store(rank); }

  void SetOutput(std::ostream* out) {
    spdlog::sink_ptr sink;
    if (out != nullptr) {
      sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out, /*force_flush=*/true);
    } else {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    }
    std::shared_ptr<spdlog::logger> logger = NewLogger(std::move(sink), ToSpdlog(level_.load()));
    absl::MutexLock lock(&mu_);
    logger_ = std::move(logger);
  }

  void Write(Level level, std::string_view message) {
    if (level == Level::kOff || level < level_.load()) return;
    if (!message.empty() && message.back() == '\n') message.remove_suffix(1);
    const int rank = rank_.load();
    std::string line = rank >= 0 ? absl::StrCat("[rank ", rank, "] ") : std::string();
    line.append(LevelPrefix(level)).append(message);
    std::shared_ptr<spdlog::logger> logger;
    {
      absl::MutexLock lock(&mu_);
      logger = logger_;
    }
    logger->log(ToSpdlog(level), spdlog::string_view_t(line.data(), line.size()));
  }

 private:
  std::atomic<Level> level_{Level::kInfo};
  std::atomic<int> rank_{-1};
  absl::Mutex mu_;
  std::shared_ptr<spdlog::logger> logger_ ABSL_GUARDED_BY(mu_);
};

Facility& TheFacility() {
  static Facility* const facility = new Facility();  // never destroyed: logging at exit works
  return *facility;
}

}  // namespace

std::optional<Level> ParseLevel(std::string_view text) {
  const std::string name = absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  if (name == "off") return Level::kOff;
  return std::nullopt;
}

void SetLevel(Level level) { TheFacility().SetLevel(level); }
Level CurrentLevel() { return TheFacility().level(); }
bool Enabled(Level level) { return level != Level::kOff && level >= CurrentLevel(); }
void SetRank(int rank) { TheFacility().SetRank(rank); }
void Log(Level level, std::string_view message) { TheFacility().Write(level, message); }
void SetOutputForTesting(std::ostream* out) { TheFacility().SetOutput(out); }

}  // namespace zt::log
