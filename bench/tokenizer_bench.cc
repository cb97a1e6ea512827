// Tokenizer encoding throughput, zerotune's byte-level BPE against HF tokenizers on the same
// documents and machine, both single-threaded. The corpus is the committed parity strings
// (tests/data/tokenizers/*_parity.jsonl.gz: 250 hand-picked + 6,000 generated strings over many
// scripts) joined into ~8 KiB documents, plus the chat-template references.
//
//   tokenizer_bench [--data DIR] [--python PYTHON] [--repeats N]
// DIR defaults to $ZT_TEST_DATA or tests/data; PYTHON (with the `tokenizers` package) defaults
// to $PYTHON or python3; without it only zerotune's column is filled. Times are process CPU
// time (best of N passes after a warm-up), so a busy shared machine skews both sides alike.
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <zlib.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "worker/data/tokenizer.h"

namespace {

std::string Gunzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  std::string text;
  if (file == nullptr) return text;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  gzclose(file);
  return text;
}

std::vector<std::string> BuildDocuments(const std::string& corpus_gz) {
  std::vector<std::string> docs(1);
  for (absl::string_view line : absl::StrSplit(Gunzip(corpus_gz), '\n', absl::SkipEmpty())) {
    const auto rec = nlohmann::json::parse(line);
    if (rec["kind"] != "encode") continue;
    if (docs.back().size() > 8192) docs.emplace_back();
    docs.back() += rec["text"].get<std::string>() + "\n";
  }
  return docs;
}

// The project's own sources and docs (English prose and C++), ~8 KiB per document.
std::vector<std::string> SourceDocuments(const std::string& root) {
  std::vector<std::string> paths;
  for (const char* folder : {"docs", "worker", "common", "sharding", "tests/golden"}) {
    if (!std::filesystem::exists(root + "/" + folder)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root + "/" + folder)) {
      const std::string ext = entry.path().extension();
      if (entry.is_regular_file() && (ext == ".md" || ext == ".cc" || ext == ".h" || ext == ".py")) {
        paths.push_back(entry.path());
      }
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> docs(1);
  for (const std::string& path : paths) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (docs.back().size() > 8192) docs.emplace_back();
      docs.back() += line + "\n";
    }
  }
  return docs;
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Result {
  double seconds = 0;
  int64_t tokens = 0;
};

Result TimeZerotune(const zt::worker::data::Tokenizer& tok, const std::vector<std::string>& docs, int repeats) {
  Result r;
  for (const std::string& d : docs) r.tokens += tok.EncodeIds(d)->size();  // warm-up
  r.seconds = 1e30;
  for (int k = 0; k < repeats; ++k) {
    const double start = CpuSeconds();
    for (const std::string& d : docs) {
      auto ids = tok.EncodeIds(d);
      if (!ids.ok()) std::abort();
    }
    r.seconds = std::min(r.seconds, CpuSeconds() - start);
  }
  return r;
}

Result TimeHf(const std::string& python, const std::string& tokenizer_json, const std::vector<std::string>& docs,
              int repeats) {
  const std::string corpus = absl::StrCat("/tmp/zt_tokenizer_bench_", getpid(), ".jsonl");
  {
    std::ofstream out(corpus);
    for (const std::string& d : docs) out << nlohmann::json(d).dump() << "\n";
  }
  const std::string script = std::string(ZT_SOURCE_DIR) + "/bench/tokenizer_bench_hf.py";
  const std::string command = absl::StrCat(python, " ", script, " ", tokenizer_json, " ", corpus, " ", repeats, " 2>/dev/null");
  Result r;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    double seconds = 0;
    long long tokens = 0;
    if (fscanf(pipe, "%lf %lld", &seconds, &tokens) == 2) r = {seconds, tokens};
    pclose(pipe);
  }
  std::remove(corpus.c_str());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = std::getenv("ZT_TEST_DATA") ? std::getenv("ZT_TEST_DATA") : "tests/data";
  std::string python = std::getenv("PYTHON") ? std::getenv("PYTHON") : "python3";
  int repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--data") data = argv[i + 1];
    else if (flag == "--python") python = argv[i + 1];
    else if (flag == "--repeats") repeats = std::atoi(argv[i + 1]);
  }
  struct Case {
    const char* name;
    std::string dir;
    std::string json;
    std::string corpus;
  };
  const Case cases[] = {
      {"qwen3", data + "/qwen3-tokenizer", data + "/qwen3-tokenizer/tokenizer.json", data + "/tokenizers/qwen3_parity.jsonl.gz"},
      {"llama3", data + "/tokenizers/llama3", data + "/tokenizers/llama3/tokenizer.json.gz", data + "/tokenizers/llama3_parity.jsonl.gz"},
      {"qwen3", data + "/qwen3-tokenizer", data + "/qwen3-tokenizer/tokenizer.json", ""},
      {"llama3", data + "/tokenizers/llama3", data + "/tokenizers/llama3/tokenizer.json.gz", ""},
  };
  std::cout << absl::StrFormat("%-8s %-10s %6s %8s %10s %14s %10s %12s %7s\n", "tokenizer", "corpus", "docs", "MiB", "tokens",
                               "zerotune MB/s", "HF MB/s", "zt tok/s", "zt/HF");
  for (const Case& c : cases) {
    auto tok = zt::worker::data::Tokenizer::FromDirectory(c.dir);
    if (!tok.ok()) {
      std::cerr << c.name << ": " << tok.status() << "\n";
      return 1;
    }
    const std::vector<std::string> docs =
        c.corpus.empty() ? SourceDocuments(std::string(ZT_SOURCE_DIR)) : BuildDocuments(c.corpus);
    size_t bytes = 0;
    for (const auto& d : docs) bytes += d.size();
    const Result zt = TimeZerotune(**tok, docs, repeats);
    const Result hf = TimeHf(python, c.json, docs, repeats);
    const double zt_mbs = bytes / zt.seconds / 1e6;
    const double hf_mbs = hf.seconds > 0 ? bytes / hf.seconds / 1e6 : 0;
    std::cout << absl::StrFormat("%-8s %-10s %6d %8.2f %10d %14.2f %10.2f %12.0f %7s\n", c.name,
                                 c.corpus.empty() ? "sources" : "unicode", docs.size(),
                                 bytes / 1048576.0, zt.tokens, zt_mbs, hf_mbs, zt.tokens / zt.seconds,
                                 hf_mbs > 0 ? absl::StrFormat("%.2fx", zt_mbs / hf_mbs) : "n/a");
    if (hf.tokens != 0 && hf.tokens != zt.tokens) {
      std::cout << "  note: token counts differ (HF " << hf.tokens << ")\n";
    }
  }
  return 0;
}
