// TensorBoard event files: CRC32C against the RFC 3720 vectors, records parsed back by a small
// independent TFRecord + protobuf reader (both CRCs, every field), file naming, errors, and the
// golden: tensorboard's own record writer and Event protos (tests/golden/tensorboard_goldens.py)
// produced tests/data/tensorboard/scalars.tfevents, which TensorBoardWriter must reproduce byte
// for byte from the same scalars and wall times.
#include "worker/train/tensorboard_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "common/error_context.h"
#include "tests/support/temp_dir.h"
#include "worker/train/crc32c.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t LittleEndian(const std::string& bytes, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
  return v;
}

// The TFRecord records of `file`; a framing or CRC error fails the test and stops reading.
std::vector<std::string> ReadRecords(const std::string& file) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at < file.size()) {
    if (file.size() - at < 12) {
      ADD_FAILURE() << "truncated record header at byte " << at;
      break;
    }
    const uint64_t length = LittleEndian(file, at, 8);
    const uint32_t length_crc = static_cast<uint32_t>(LittleEndian(file, at + 8, 4));
    EXPECT_EQ(UnmaskCrc32c(length_crc), Crc32c(file.substr(at, 8))) << "length CRC at " << at;
    if (file.size() - at - 12 < length + 4) {
      ADD_FAILURE() << "record at byte " << at << " of length " << length << " is truncated";
      break;
    }
    std::string data = file.substr(at + 12, length);
    const uint32_t data_crc = static_cast<uint32_t>(LittleEndian(file, at + 12 + length, 4));
    EXPECT_EQ(data_crc, MaskCrc32c(Crc32c(data))) << "data CRC at " << at;
    records.push_back(std::move(data));
    at += 12 + length + 4;
  }
  return records;
}

struct ParsedEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::string writer;
  std::vector<std::pair<std::string, float>> values;
};

// A minimal protobuf reader for the Event fields the writer uses; anything else fails the test.
class WireReader {
 public:
  explicit WireReader(std::string bytes) : bytes_(std::move(bytes)) {}
  bool Done() const { return at_ >= bytes_.size(); }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; at_ < bytes_.size() && shift < 64; shift += 7) {
      const uint8_t b = static_cast<uint8_t>(bytes_[at_++]);
      v |= uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    ADD_FAILURE() << "bad varint";
    return v;
  }
  uint64_t Fixed(int n) {
    const uint64_t v = LittleEndian(bytes_, at_, n);
    at_ += n;
    return v;
  }
  std::string Bytes() {
    const uint64_t n = Varint();
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }

 private:
  std::string bytes_;
  size_t at_ = 0;
};

std::pair<std::string, float> ParseValue(const std::string& bytes) {
  WireReader r(bytes);
  std::pair<std::string, float> out;
  while (!r.Done()) {
    const uint64_t key = r.Varint();
    if (key == ((1 << 3) | 2)) {
      out.first = r.Bytes();
    } else if (key == ((2 << 3) | 5)) {
      const auto bits = static_cast<uint32_t>(r.Fixed(4));
      std::memcpy(&out.second, &bits, 4);
    } else {
      ADD_FAILURE() << "unexpected Summary.Value key " << key;
      break;
    }
  }
  return out;
}

ParsedEvent ParseEvent(const std::string& bytes) {
  WireReader r(bytes);
  ParsedEvent e;
  while (!r.Done()) {
    const uint64_t key = r.Varint();
    if (key == ((1 << 3) | 1)) {
      const uint64_t bits = r.Fixed(8);
      std::memcpy(&e.wall_time, &bits, 8);
    } else if (key == ((2 << 3) | 0)) {
      e.step = static_cast<int64_t>(r.Varint());
    } else if (key == ((3 << 3) | 2)) {
      e.file_version = r.Bytes();
    } else if (key == ((5 << 3) | 2)) {
      WireReader summary(r.Bytes());
      while (!summary.Done()) {
        EXPECT_EQ(summary.Varint(), (1u << 3) | 2) << "Summary.value key";
        e.values.push_back(ParseValue(summary.Bytes()));
      }
    } else if (key == ((10 << 3) | 2)) {
      WireReader metadata(r.Bytes());
      EXPECT_EQ(metadata.Varint(), (1u << 3) | 2) << "SourceMetadata.writer key";
      e.writer = metadata.Bytes();
    } else {
      ADD_FAILURE() << "unexpected Event key " << key;
      break;
    }
  }
  return e;
}

TEST(Crc32cTest, MatchesTheCastagnoliVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xFF, and 0x00..0x1F.
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c("456789", Crc32c("123")), 0xE3069283u);  // continuation
}

TEST(Crc32cTest, MaskMatchesTensorBoard) {
  // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c(b"123456789")
  EXPECT_EQ(MaskCrc32c(0xE3069283u), 0xC78AB0E5u);
  for (uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u}) {
    EXPECT_EQ(UnmaskCrc32c(MaskCrc32c(crc)), crc);
  }
}

TEST(TensorBoardWriterTest, RecordsParseBackWithBothCrcsAndEveryField) {
  zt::testing::TempDir dir;
  const std::string log_dir = dir.Join("out/runs/Nov23_17-52-45_host");
  auto writer = TensorBoardWriter::OpenAt(log_dir, 1763913165.75);
  ASSERT_TRUE(writer.ok()) << writer.status();
  // The first event is on disk as soon as Open returns.
  EXPECT_EQ(ReadRecords(ReadFile((*writer)->path())).size(), 1u);
  ASSERT_TRUE((*writer)->AddScalar("train/loss", 1, 2.75, 1763913166.0).ok());
  ASSERT_TRUE((*writer)->AddScalar("train/learning_rate", 1, 2e-4, 1763913166.0).ok());
  ASSERT_TRUE((*writer)->AddScalar("eval/loss", 1000, 0.0, 1763913999.5).ok());
  ASSERT_TRUE((*writer)->AddScalar("train/grad_norm", -5, std::nan(""), 1763914000.0).ok());
  ASSERT_TRUE((*writer)->Flush().ok());

  const std::vector<std::string> records = ReadRecords(ReadFile((*writer)->path()));
  ASSERT_EQ(records.size(), 5u);
  const ParsedEvent first = ParseEvent(records[0]);
  EXPECT_EQ(first.wall_time, 1763913165.75);
  EXPECT_EQ(first.step, 0);
  EXPECT_EQ(first.file_version, "brain.Event:2");
  EXPECT_EQ(first.writer, "zerotune");
  EXPECT_TRUE(first.values.empty());
  struct Expected {
    std::string tag;
    int64_t step;
    float value;
    double wall_time;
  };
  const std::vector<Expected> expected = {{"train/loss", 1, 2.75f, 1763913166.0},
                                          {"train/learning_rate", 1, 2e-4f, 1763913166.0},
                                          {"eval/loss", 1000, 0.0f, 1763913999.5},
                                          {"train/grad_norm", -5, NAN, 1763914000.0}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const ParsedEvent e = ParseEvent(records[i + 1]);
    EXPECT_EQ(e.wall_time, expected[i].wall_time) << i;
    EXPECT_EQ(e.step, expected[i].step) << i;
    EXPECT_TRUE(e.file_version.empty()) << i;
    ASSERT_EQ(e.values.size(), 1u) << i;
    EXPECT_EQ(e.values[0].first, expected[i].tag);
    if (std::isnan(expected[i].value)) {
      EXPECT_TRUE(std::isnan(e.values[0].second));
    } else {
      EXPECT_EQ(e.values[0].second, expected[i].value) << i;
    }
  }
  // simple_value is in a oneof: 0.0 is written (tag 0x15 + 4 bytes), unlike step 0.
  EXPECT_NE(records[3].find(std::string("\x15\0\0\0\0", 5)), std::string::npos);
}

TEST(TensorBoardWriterTest, NamesFilesLikeTensorBoardAndNeverReusesOne) {
  zt::testing::TempDir dir;
  auto a = TensorBoardWriter::OpenAt(dir.path(), 1763913165.99);
  auto b = TensorBoardWriter::OpenAt(dir.path(), 1763913165.01);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string prefix = "events.out.tfevents.1763913165." + common::HostName() + "." +
                             std::to_string(::getpid()) + ".";
  EXPECT_EQ(fs::path((*a)->path()).filename().string(), prefix + "0");
  EXPECT_EQ(fs::path((*b)->path()).filename().string(), prefix + "1");
  auto now = TensorBoardWriter::Open(dir.Join("runs/now"));
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_TRUE(std::regex_match(fs::path((*now)->path()).filename().string(),
                               std::regex(R"(events\.out\.tfevents\.\d{10}\..+\.\d+\.0)")));
}

TEST(TensorBoardWriterTest, RejectsEmptyNamesAndUnwritableFolders) {
  zt::testing::TempDir dir;
  EXPECT_EQ(TensorBoardWriter::Open("").status().code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir.Join("file")) << "x";
  const absl::Status under_file = TensorBoardWriter::Open(dir.Join("file/runs")).status();
  EXPECT_EQ(under_file.code(), absl::StatusCode::kInternal);
  EXPECT_NE(under_file.message().find(dir.Join("file/runs")), absl::string_view::npos)
      << under_file;
  auto writer = TensorBoardWriter::OpenAt(dir.path(), 1.0);
  ASSERT_TRUE(writer.ok()) << writer.status();
  const absl::Status empty_tag = (*writer)->AddScalar("", 3, 1.0, 2.0);
  EXPECT_EQ(empty_tag.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty_tag.message().find("step 3"), absl::string_view::npos) << empty_tag;
}

TEST(TensorBoardWriterTest, DefaultRunNameIsHfTrainers) {
  // transformers: os.path.join("runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_" + host)
  const absl::Time t = absl::FromUnixSeconds(1763913165);  // 2025-11-23 15:52:45 UTC
  EXPECT_EQ(DefaultTensorBoardRunName(t, "node-3", absl::UTCTimeZone()), "Nov23_15-52-45_node-3");
}

double JsonNumber(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    ADD_FAILURE() << "unexpected number string " << s;
  }
  return v.get<double>();
}

TEST(TensorBoardWriterTest, ByteIdenticalToTensorBoardsOwnWriter) {
  const char* root = std::getenv("ZT_TEST_DATA");
  const std::string data_dir = std::string(root != nullptr ? root : "tests/data") + "/tensorboard";
  std::ifstream golden_file(data_dir + "/scalars.json");
  ASSERT_TRUE(golden_file.good()) << data_dir;
  const nlohmann::json golden = nlohmann::json::parse(golden_file);
  const std::string reference = ReadFile(data_dir + "/" + golden["file"].get<std::string>());
  ASSERT_EQ(reference.size(), golden["bytes"].get<size_t>());

  zt::testing::TempDir dir;
  auto writer = TensorBoardWriter::OpenAt(dir.path(), golden["start_wall_time"].get<double>());
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const nlohmann::json& s : golden["scalars"]) {
    ASSERT_TRUE((*writer)
                    ->AddScalar(s["tag"].get<std::string>(), s["step"].get<int64_t>(),
                                JsonNumber(s["value"]), s["wall_time"].get<double>())
                    .ok());
  }
  ASSERT_TRUE((*writer)->Flush().ok());
  const std::string ours = ReadFile((*writer)->path());
  const std::vector<std::string> our_records = ReadRecords(ours);
  const std::vector<std::string> their_records = ReadRecords(reference);
  ASSERT_EQ(our_records.size(), their_records.size());
  for (size_t i = 0; i < our_records.size(); ++i) {
    EXPECT_EQ(our_records[i], their_records[i]) << "record " << i;
  }
  EXPECT_EQ(ours, reference);  // the framing too

  // What TensorBoard read from the reference is what our records hold.
  for (size_t i = 0; i < golden["scalars"].size(); ++i) {
    const nlohmann::json& s = golden["scalars"][i];
    const ParsedEvent e = ParseEvent(our_records[i + 1]);
    ASSERT_EQ(e.values.size(), 1u);
    const double read = JsonNumber(s["read_value"]);
    if (std::isnan(read)) {
      EXPECT_TRUE(std::isnan(e.values[0].second)) << i;
    } else {
      EXPECT_EQ(static_cast<double>(e.values[0].second), read) << i;
    }
    EXPECT_EQ(e.wall_time, s["read_wall_time"].get<double>()) << i;
  }
}

}  // namespace
}  // namespace zt::worker::train
