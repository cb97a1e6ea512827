// Two loaded libraries that define the same symbol: the process binds every reference to the
// first one in the executable's search order. libtorch_cpu.so carries its own Gloo and newer
// std::filesystem functions; this binary, like every zerotune executable, links LibTorch, so
// its Gloo and std::filesystem references must land in Debian's libgloo and the system's
// libstdc++ (cmake/ZtDependencies.cmake puts them ahead). Fails when the link order regresses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/imported_symbols.h"
#include "tests/support/temp_dir.h"

#ifdef ZT_TEST_HAS_GLOO
#include <gloo/common/error.h>
#endif

namespace zt::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

void ExpectAllBindTo(const std::vector<ImportedSymbol>& symbols, const std::string& library) {
  ASSERT_FALSE(symbols.empty()) << "this binary imports none of the symbols under test";
  for (const ImportedSymbol& symbol : symbols) {
    EXPECT_THAT(symbol.library, HasSubstr(library))
        << symbol.name << (symbol.version.empty() ? "" : "@" + symbol.version);
  }
}

TEST(SymbolBindingTest, FilesystemBindsToTheSystemLibstdcxx) {
  ExpectAllBindTo(ImportedSymbols({"_ZNSt10filesystem", "_ZNKSt10filesystem"}), "libstdc++.so");
}

TEST(SymbolBindingTest, RemovingADirectoryTreeWorks) {
  std::string root;
  {
    TempDir dir;
    root = dir.path();
    std::filesystem::create_directories(dir.Join("a/b/c"));
    std::ofstream(dir.Join("a/b/c/file")) << "x";
    std::ofstream(dir.Join("a/top")) << "y";
    EXPECT_EQ(std::filesystem::remove_all(dir.Join("a")), 5u);
    std::filesystem::create_directories(dir.Join("again/d"));
  }  // ~TempDir removes what is left
  EXPECT_FALSE(std::filesystem::exists(root));
}

#ifdef ZT_TEST_HAS_GLOO
TEST(SymbolBindingTest, GlooBindsToDebiansGlooOnly) {
  // Keeps a Gloo reference in this binary whatever the other tests use.
  EXPECT_THAT(std::string(::gloo::IoException("probe").what()), HasSubstr("probe"));
  const std::vector<ImportedSymbol> gloo =
      ImportedSymbols({"_ZN4gloo", "_ZNK4gloo", "_ZTIN4gloo", "_ZTVN4gloo"});
  ExpectAllBindTo(gloo, "libgloo.so");
  for (const ImportedSymbol& symbol : gloo) EXPECT_THAT(symbol.library, Not(HasSubstr("libtorch")));
}
#endif

}  // namespace
}  // namespace zt::testing
