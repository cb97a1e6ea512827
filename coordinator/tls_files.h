// The coordinator's TLS files, checked with OpenSSL before the server starts: gRPC itself
// only fails to bind on a bad pair and names no file, so the error would read like a port
// problem.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace zt::coordinator {

// OK when `cert_file` holds a PEM certificate, `key_file` an unencrypted PEM private key, and
// the key belongs to the certificate. InvalidArgument naming the flag (--tls_cert /
// --tls_key), the file and OpenSSL's reason otherwise.
absl::Status CheckTlsFiles(const std::string& cert_file, const std::string& key_file);

}  // namespace zt::coordinator
