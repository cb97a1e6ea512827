#include "worker/train/tensorboard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/error_context.h"
#include "common/status_macros.h"
#include "worker/train/crc32c.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

constexpr char kFileVersion[] = "brain.Event:2";
// SourceMetadata.writer of the first event, as tensorboard's writer names itself there.
constexpr char kWriterName[] = "zerotune";

// Protobuf wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

// Event / Summary / Summary.Value field numbers (tensorboard/compat/proto/{event,summary}.proto).
constexpr uint32_t kEventWallTime = 1;
constexpr uint32_t kEventStep = 2;
constexpr uint32_t kEventFileVersion = 3;
constexpr uint32_t kEventSummary = 5;
constexpr uint32_t kEventSourceMetadata = 10;
constexpr uint32_t kSourceMetadataWriter = 1;
constexpr uint32_t kSummaryValue = 1;
constexpr uint32_t kValueTag = 1;
constexpr uint32_t kValueSimpleValue = 2;

void PutVarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutLittleEndian(uint64_t v, int bytes, std::string& out) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutKey(uint32_t field, uint32_t wire_type, std::string& out) {
  PutVarint((static_cast<uint64_t>(field) << 3) | wire_type, out);
}

void PutBytesField(uint32_t field, const std::string& bytes, std::string& out) {
  PutKey(field, kLengthDelimited, out);
  PutVarint(bytes.size(), out);
  out += bytes;
}

// proto3 fields outside a oneof are omitted at their default value (0, +0.0); oneof members
// (file_version, summary, simple_value) are always written. Python's protobuf decides by bits,
// so -0.0 is written.
void PutWallTimeAndStep(double wall_time_s, int64_t step, std::string& out) {
  uint64_t bits = 0;
  std::memcpy(&bits, &wall_time_s, sizeof bits);
  if (bits != 0) {
    PutKey(kEventWallTime, kFixed64, out);
    PutLittleEndian(bits, 8, out);
  }
  if (step != 0) {
    PutKey(kEventStep, kVarint, out);
    PutVarint(static_cast<uint64_t>(step), out);  // negative int64: ten-byte two's complement
  }
}

std::string FormatFileName(double wall_time_s, const std::string& host, int n) {
  return absl::StrFormat("events.out.tfevents.%010d.%s.%d.%d", static_cast<int64_t>(wall_time_s),
                         host, static_cast<int>(::getpid()), n);
}

double NowSeconds() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

}  // namespace

std::string DefaultTensorBoardRunName(absl::Time time, const std::string& host,
                                      absl::TimeZone zone) {
  return absl::StrCat(absl::FormatTime("%b%d_%H-%M-%S", time, zone), "_", host);
}

std::string EncodeFileVersionEvent(double wall_time_s) {
  std::string out;
  PutWallTimeAndStep(wall_time_s, 0, out);
  PutBytesField(kEventFileVersion, kFileVersion, out);
  std::string source_metadata;
  PutBytesField(kSourceMetadataWriter, kWriterName, source_metadata);
  PutBytesField(kEventSourceMetadata, source_metadata, out);
  return out;
}

std::string EncodeScalarEvent(const std::string& tag, int64_t step, float value,
                              double wall_time_s) {
  std::string summary_value;
  if (!tag.empty()) PutBytesField(kValueTag, tag, summary_value);
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  PutKey(kValueSimpleValue, kFixed32, summary_value);
  PutLittleEndian(bits, 4, summary_value);
  std::string summary;
  PutBytesField(kSummaryValue, summary_value, summary);
  std::string out;
  PutWallTimeAndStep(wall_time_s, step, out);
  PutBytesField(kEventSummary, summary, out);
  return out;
}

std::string FrameTfRecord(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  PutLittleEndian(data.size(), 8, out);
  const uint32_t length_crc = MaskCrc32c(Crc32c(out));
  PutLittleEndian(length_crc, 4, out);
  out += data;
  PutLittleEndian(MaskCrc32c(Crc32c(data)), 4, out);
  return out;
}

absl::StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Open(
    const std::string& log_dir) {
  return OpenAt(log_dir, NowSeconds());
}

absl::StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::OpenAt(
    const std::string& log_dir, double wall_time_s) {
  if (log_dir.empty()) {
    return absl::InvalidArgumentError(
        "TensorBoard log dir is empty; expected a folder such as <output_dir>/runs/<run name>");
  }
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create TensorBoard log dir ", log_dir, ": ", ec.message()));
  }
  const std::string host = common::HostName();
  // The smallest free n: two writers of one process (or a restarted one within the same
  // second) get distinct files, as tensorboard's per-process counter gives them.
  for (int n = 0; n < 1000; ++n) {
    const std::string path = (fs::path(log_dir) / FormatFileName(wall_time_s, host, n)).string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) {
      return absl::InternalError(
          absl::StrCat("cannot create TensorBoard event file ", path, ": ", std::strerror(errno)));
    }
    std::FILE* file = ::fdopen(fd, "wb");
    if (file == nullptr) {
      const int err = errno;
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("fdopen of TensorBoard event file ", path, ": ", std::strerror(err)));
    }
    std::unique_ptr<TensorBoardWriter> writer(new TensorBoardWriter(path, file));
    ZT_RETURN_IF_ERROR(writer->WriteRecord(EncodeFileVersionEvent(wall_time_s)));
    ZT_RETURN_IF_ERROR(writer->Flush());
    return writer;
  }
  return absl::AlreadyExistsError(
      absl::StrCat("TensorBoard log dir ", log_dir, " already holds 1000 event files named ",
                   FormatFileName(wall_time_s, host, 0), " .. 999; expected a free name"));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status TensorBoardWriter::AddScalar(const std::string& tag, int64_t step, double value,
                                          double wall_time_s) {
  if (tag.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("TensorBoard scalar at step ", step,
                                                   " has an empty tag; expected a name "
                                                   "such as train/loss (event file ",
                                                   path_, ")"));
  }
  return WriteRecord(EncodeScalarEvent(tag, step, static_cast<float>(value), wall_time_s));
}

absl::Status TensorBoardWriter::WriteRecord(const std::string& data) {
  const std::string record = FrameTfRecord(data);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
    return absl::InternalError(absl::StrCat("write of ", record.size(),
                                            " bytes to TensorBoard event file ", path_,
                                            " failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status TensorBoardWriter::Flush() {
  if (std::fflush(file_) != 0) {
    return absl::InternalError(
        absl::StrCat("flush of TensorBoard event file ", path_, " failed: ", std::strerror(errno)));
  }
  if (::fsync(::fileno(file_)) != 0) {
    return absl::InternalError(
        absl::StrCat("fsync of TensorBoard event file ", path_, " failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace zt::worker::train
