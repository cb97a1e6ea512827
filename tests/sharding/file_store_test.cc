#include "sharding/collectives/file_store.h"

#include <gtest/gtest.h>

namespace zt::sharding {
namespace {

TEST(FileStoreKeyNameTest, EncodesEverythingButPlainBytes) {
  EXPECT_EQ(*EncodeKeyFileName("rank_0-id"), "rank_0-id");
  EXPECT_EQ(*EncodeKeyFileName("zt/job/gen0"), "zt%2Fjob%2Fgen0");
  EXPECT_EQ(*EncodeKeyFileName(".lock"), "%2Elock");  // never collides with the lock file
  EXPECT_EQ(*EncodeKeyFileName(std::string("\0\xff", 2)), "%00%FF");
}

TEST(FileStoreKeyNameTest, DecodeIsTheExactInverse) {
  for (std::string key : {"a", "zt/job/gen0/nccl_id", "..", "with space", "\xe4\xbd\xa0"}) {
    EXPECT_EQ(*DecodeKeyFileName(*EncodeKeyFileName(key)), key);
  }
}

TEST(FileStoreKeyNameTest, RejectsNamesItNeverWrites) {
  for (std::string name : {"", ".lock", "%2", "%zz", "%41" /* 'A' is written plain */, "a%2f", "a b"}) {
    EXPECT_EQ(DecodeKeyFileName(name).status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(EncodeKeyFileName("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeKeyFileName(std::string(100, '/')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FileStoreTest, OpenFailsOnAFileInTheWay) {
  absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open("/proc/version/store");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("/proc/version/store"), std::string::npos);
}

}  // namespace
}  // namespace zt::sharding
