#include "coordinator/job_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace zt::coordinator {
namespace {

std::string Dir(const std::string& job_dir) { return job_dir + "/.zerotune"; }

}  // namespace

absl::Status WriteJobFile(const std::string& job_dir, const JobFile& job) {
  std::error_code error;
  std::filesystem::create_directories(Dir(job_dir), error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create ", Dir(job_dir), ": ", error.message()));
  }
  const std::string token_path = Dir(job_dir) + "/token";
  std::remove(token_path.c_str());
  const int fd = open(token_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("cannot create ", token_path));
  const bool written = write(fd, job.token.data(), job.token.size()) ==
                       static_cast<ssize_t>(job.token.size());
  close(fd);
  if (!written) return absl::InvalidArgumentError(absl::StrCat("cannot write ", token_path));
  nlohmann::json json{{"address", job.address}, {"job_id", job.job_id}, {"tls_ca_file", job.tls_ca_file}};
  const std::string path = Dir(job_dir) + "/coordinator.json";
  std::ofstream out(path + ".tmp", std::ios::trunc);
  out << json.dump(2) << "\n";
  out.close();
  if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobFile> ReadJobFile(const std::string& job_dir) {
  const std::string path = Dir(job_dir) + "/coordinator.json";
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("no running job in '", job_dir, "' (", path,
                                            " does not exist); pass the --output_dir of "
                                            "`zerotune launch` or the --job_dir of `zerotune serve`"));
  }
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded() || !json.contains("address")) {
    return absl::DataLossError(absl::StrCat(path, " is not a coordinator job file"));
  }
  JobFile job;
  job.address = json["address"].get<std::string>();
  job.job_id = json.value("job_id", "");
  job.tls_ca_file = json.value("tls_ca_file", "");
  std::ifstream token(Dir(job_dir) + "/token");
  std::ostringstream text;
  text << token.rdbuf();
  job.token = std::string(absl::StripAsciiWhitespace(text.str()));
  return job;
}

void RemoveJobFile(const std::string& job_dir) {
  std::remove((Dir(job_dir) + "/coordinator.json").c_str());
  std::remove((Dir(job_dir) + "/token").c_str());
}

ClientOptions ClientOptionsFor(const JobFile& job) {
  ClientOptions options;
  options.address = job.address;
  options.token = job.token;
  options.tls_ca_file = job.tls_ca_file;
  options.rpc_timeout = absl::Seconds(10);
  return options;
}

}  // namespace zt::coordinator
