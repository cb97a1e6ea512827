#include "coordinator/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace zt::coordinator {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

// OpenSSL's most recent error on this thread ("" when none), and the queue cleared.
std::string OpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  std::string text;
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    text = buffer;
  }
  ERR_clear_error();
  return text.empty() ? "no PEM block found" : text;
}

// Never prompts on the terminal for a passphrase: an encrypted key fails to load instead.
int NoPassphrase(char*, int, int, void*) { return -1; }

absl::StatusOr<std::unique_ptr<BIO, BioFree>> Open(const char* flag, const std::string& path) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " '", path, "' cannot be read: ", OpenSslError()));
  }
  return bio;
}

}  // namespace

absl::Status CheckTlsFiles(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  absl::StatusOr<std::unique_ptr<BIO, BioFree>> cert_bio = Open("--tls_cert", cert_file);
  if (!cert_bio.ok()) return cert_bio.status();
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(cert_bio->get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert '", cert_file,
                     "' is not a PEM certificate (expected a -----BEGIN "
                     "CERTIFICATE----- block): ",
                     OpenSslError()));
  }
  absl::StatusOr<std::unique_ptr<BIO, BioFree>> key_bio = Open("--tls_key", key_file);
  if (!key_bio.ok()) return key_bio.status();
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(key_bio->get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key '", key_file, "' is not an unencrypted PEM private key: ", OpenSslError()));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key '", key_file, "' does not belong to the certificate in --tls_cert '", cert_file,
        "': ", OpenSslError()));
  }
  return absl::OkStatus();
}

}  // namespace zt::coordinator
