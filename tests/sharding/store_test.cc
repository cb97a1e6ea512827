// The Store contract (store_contract.h) on the in-process and file-backed stores.
#include <memory>

#include "sharding/collectives/file_store.h"
#include "sharding/collectives/in_memory_store.h"
#include "tests/sharding/store_contract.h"
#include "tests/support/temp_dir.h"

namespace zt::sharding {
namespace {

StoreUnderTest MakeInMemoryStore() { return {std::make_shared<InMemoryStore>(), nullptr}; }

StoreUnderTest MakeFileStore() {
  auto dir = std::make_shared<testing::TempDir>();
  absl::StatusOr<std::unique_ptr<FileStore>> store = FileStore::Open(dir->Join("store"));
  if (!store.ok()) return {};
  return {std::shared_ptr<Store>(std::move(*store)), dir};
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest,
                         ::testing::Values(StoreBackend{"InMemory", MakeInMemoryStore},
                                           StoreBackend{"File", MakeFileStore}),
                         StoreBackendName);

}  // namespace
}  // namespace zt::sharding
