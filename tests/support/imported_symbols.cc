#include "tests/support/imported_symbols.h"

#include <dlfcn.h>
#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

namespace zt::testing {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename T>
const T* At(const std::string& image, size_t offset) {
  if (offset + sizeof(T) > image.size()) throw std::runtime_error("truncated ELF file");
  return reinterpret_cast<const T*>(image.data() + offset);
}

// Version index (from .gnu.version) -> version name, from the .gnu.version_r entries.
std::map<uint16_t, std::string> NeededVersions(const std::string& image, const Elf64_Shdr& verneed,
                                               const Elf64_Shdr& strtab) {
  std::map<uint16_t, std::string> names;
  size_t need_at = verneed.sh_offset;
  for (Elf64_Word i = 0; i < verneed.sh_info; ++i) {
    const auto* need = At<Elf64_Verneed>(image, need_at);
    size_t aux_at = need_at + need->vn_aux;
    for (Elf64_Half j = 0; j < need->vn_cnt; ++j) {
      const auto* aux = At<Elf64_Vernaux>(image, aux_at);
      names[aux->vna_other] = image.data() + strtab.sh_offset + aux->vna_name;
      aux_at += aux->vna_next;
    }
    need_at += need->vn_next;
  }
  return names;
}

}  // namespace

std::vector<ImportedSymbol> ImportedSymbols(const std::vector<std::string_view>& prefixes) {
  const std::string image = ReadFile("/proc/self/exe");
  const auto* header = At<Elf64_Ehdr>(image, 0);
  if (std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64) {
    throw std::runtime_error("/proc/self/exe is not a 64-bit ELF file");
  }
  std::vector<const Elf64_Shdr*> sections;
  for (int i = 0; i < header->e_shnum; ++i) {
    sections.push_back(At<Elf64_Shdr>(image, header->e_shoff + size_t(i) * header->e_shentsize));
  }
  const Elf64_Shdr* dynsym = nullptr;
  const Elf64_Shdr* versym = nullptr;
  const Elf64_Shdr* verneed = nullptr;
  for (const Elf64_Shdr* s : sections) {
    if (s->sh_type == SHT_DYNSYM) dynsym = s;
    if (s->sh_type == SHT_GNU_versym) versym = s;
    if (s->sh_type == SHT_GNU_verneed) verneed = s;
  }
  if (dynsym == nullptr) throw std::runtime_error("/proc/self/exe has no dynamic symbol table");
  const Elf64_Shdr& strtab = *sections.at(dynsym->sh_link);
  std::map<uint16_t, std::string> versions;
  if (verneed != nullptr) versions = NeededVersions(image, *verneed, *sections.at(verneed->sh_link));

  std::vector<ImportedSymbol> imported;
  const size_t count = dynsym->sh_size / sizeof(Elf64_Sym);
  for (size_t i = 1; i < count; ++i) {
    const auto* sym = At<Elf64_Sym>(image, dynsym->sh_offset + i * sizeof(Elf64_Sym));
    if (sym->st_shndx != SHN_UNDEF) continue;
    const std::string_view name(image.data() + strtab.sh_offset + sym->st_name);
    bool wanted = false;
    for (std::string_view prefix : prefixes) wanted = wanted || name.substr(0, prefix.size()) == prefix;
    if (!wanted) continue;
    ImportedSymbol entry{std::string(name), "", ""};
    if (versym != nullptr) {
      const uint16_t index = *At<uint16_t>(image, versym->sh_offset + i * 2) & 0x7fff;
      auto found = versions.find(index);
      if (found != versions.end()) entry.version = found->second;
    }
    void* address = entry.version.empty()
                        ? dlsym(RTLD_DEFAULT, entry.name.c_str())
                        : dlvsym(RTLD_DEFAULT, entry.name.c_str(), entry.version.c_str());
    Dl_info info{};
    if (address != nullptr && dladdr(address, &info) != 0 && info.dli_fname != nullptr) {
      entry.library = info.dli_fname;
    }
    imported.push_back(std::move(entry));
  }
  return imported;
}

}  // namespace zt::testing
