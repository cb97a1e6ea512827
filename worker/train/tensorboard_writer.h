// TensorBoard event files for `--report_to tensorboard`: scalar summaries that TensorBoard (and
// anything reading TFRecord Event protos) shows, written without TensorFlow or a .proto.
//
// File format (TFRecord): one record per Event, each
//   uint64 length (little endian) | uint32 masked CRC32C of those 8 bytes | data |
//   uint32 masked CRC32C of data
// where data is a serialized tensorboard Event: wall_time (double, field 1), step (int64,
// field 2), file_version (string, field 3) or summary (Summary, field 5), source_metadata
// (SourceMetadata {writer (string, field 1)}, field 10); a Summary holds
// repeated Value (field 1) with tag (string, field 1) and simple_value (float, field 2).
// The bytes equal those of tensorboard's own writer (tensorboard.summary.writer) for the same
// events, which the golden test checks.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zt::worker::train {

// The run folder name HF Trainer (and torch's SummaryWriter) use under <output_dir>/runs/ when
// logging_dir is not given: "<Mon><DD>_<HH>-<MM>-<SS>_<host>" in local time, e.g.
// "Nov23_17-52-45_node-3" (`time` shown in `zone`).
std::string DefaultTensorBoardRunName(absl::Time time, const std::string& host,
                                      absl::TimeZone zone = absl::LocalTimeZone());

// One event file. Not thread-safe (the trainer's rank 0 logs from one thread). Every call
// blocks on the file system; errors name the file.
class TensorBoardWriter {
 public:
  // Creates `log_dir` (and its parents) when missing and a new file in it named as tensorboard's
  // EventFileWriter names it: events.out.tfevents.<seconds, 10 digits>.<host>.<pid>.<n>, where n
  // is the smallest number (from 0) whose file does not exist yet. The first record is the
  // Event {wall_time, file_version "brain.Event:2", source_metadata {writer "zerotune"}},
  // flushed before Open returns.
  // InvalidArgument for an empty log_dir; Internal when the folder or file cannot be created.
  static absl::StatusOr<std::unique_ptr<TensorBoardWriter>> Open(const std::string& log_dir);
  // The same with the file_version event's wall time (and the file name's seconds) given, for
  // reproducible files.
  static absl::StatusOr<std::unique_ptr<TensorBoardWriter>> OpenAt(const std::string& log_dir,
                                                                   double wall_time_s);

  ~TensorBoardWriter();  // flushes and closes; errors there are lost: call Flush() first
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // Appends Event {wall_time_s, step, summary {value {tag, simple_value}}}; `value` is stored
  // as a float (TensorBoard's simple_value), NaN and infinities included. Buffered: visible to
  // readers after Flush(). InvalidArgument for an empty tag; Internal on a write error.
  absl::Status AddScalar(const std::string& tag, int64_t step, double value, double wall_time_s);

  // Writes buffered records to the file and fsyncs it. Internal (naming the file) on failure.
  absl::Status Flush();

  // The event file's full path.
  const std::string& path() const { return path_; }

 private:
  TensorBoardWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  absl::Status WriteRecord(const std::string& data);

  std::string path_;
  std::FILE* file_;
};

// The serialized Event protos (record data, no TFRecord framing). Exposed for tests.
std::string EncodeFileVersionEvent(double wall_time_s);
std::string EncodeScalarEvent(const std::string& tag, int64_t step, float value,
                              double wall_time_s);

// One TFRecord record around `data`: length, masked CRC of the length, data, masked CRC of data.
std::string FrameTfRecord(const std::string& data);

}  // namespace zt::worker::train
