// Where this executable's imported dynamic symbols bind at run time: the test of the link
// order that keeps one Gloo and the system's libstdc++ ahead of LibTorch's copies
// (cmake/ZtDependencies.cmake).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace zt::testing {

struct ImportedSymbol {
  std::string name;     // mangled
  std::string version;  // e.g. "GLIBCXX_3.4.26"; empty when the reference is unversioned
  std::string library;  // the file that defines it in this process; empty when unresolved
};

// The undefined symbols of /proc/self/exe's dynamic symbol table whose names start with one of
// `prefixes`, each resolved as the dynamic linker resolves the executable's own references
// (the global scope, honouring the reference's symbol version).
std::vector<ImportedSymbol> ImportedSymbols(const std::vector<std::string_view>& prefixes);

}  // namespace zt::testing
