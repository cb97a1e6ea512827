#include "worker/train/checkpoint_files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace zt::worker::train {

namespace {

absl::Status ErrnoError(const char* what, const std::string& path, int err) {
  std::string message = absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct EvpDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

std::string Hex(const unsigned char* digest, unsigned int n) {
  std::string out;
  for (unsigned int i = 0; i < n; ++i) absl::StrAppendFormat(&out, "%02x", digest[i]);
  return out;
}

}  // namespace

absl::StatusOr<FileDigest> Sha256File(const std::string& path) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return ErrnoError("open", path, errno);
  std::unique_ptr<EVP_MD_CTX, EvpDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError(absl::StrCat("cannot start SHA-256 of ", path));
  }
  std::vector<char> buffer(1 << 20);
  FileDigest digest;
  while (true) {
    const ssize_t n = ::read(file.fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n));
    digest.bytes += n;
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  digest.sha256 = Hex(out, len);
  return digest;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return Hex(out, len);
}

absl::Status FsyncPath(const std::string& path) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return ErrnoError("open for fsync", path, errno);
  if (::fsync(file.fd) != 0) return ErrnoError("fsync", path, errno);
  return absl::OkStatus();
}

absl::Status WriteFileDurably(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    Fd file{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (file.fd < 0) return ErrnoError("create", tmp, errno);
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(file.fd, content.data() + done, content.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::unlink(tmp.c_str());
        return ErrnoError("write", tmp, err);
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(file.fd) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoError("fsync", tmp, err);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename into", path, errno);
  std::string parent = std::filesystem::path(path).parent_path().string();
  return FsyncPath(parent.empty() ? "." : parent);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::InternalError(absl::StrCat("cannot open ", path));
  }
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", path));
  return content;
}

absl::Status RemoveFolder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::OkStatus();
  fs::path p(dir);
  const fs::path doomed =
      p.parent_path() / absl::StrCat(".deleting-", p.filename().string(), "-", ::getpid());
  fs::rename(p, doomed, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename ", dir, " for deletion: ", ec.message()));
  fs::remove_all(doomed, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot delete ", doomed.string(), " (was ", dir, "): ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace zt::worker::train
