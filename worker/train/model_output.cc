#include "worker/train/model_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/io/hf_export.h"
#include "worker/io/peft_adapter.h"
#include "worker/model/model_presets.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

absl::Status FsyncPath(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path.string(), " to sync"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::DataLossError(absl::StrCat("fsync of ", path.string(), " failed"));
  return absl::OkStatus();
}

// Moves every file of `staging` into `dir` (same file system), then removes `staging`.
absl::Status Publish(const fs::path& staging, const fs::path& dir) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(staging)) {
    ZT_RETURN_IF_ERROR(FsyncPath(e.path()));
    fs::rename(e.path(), dir / e.path().filename(), ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot move ", e.path().string(), " into ",
                                              dir.string(), ": ", ec.message()));
    }
  }
  fs::remove_all(staging, ec);
  return FsyncPath(dir);
}

}  // namespace

absl::Status WriteTrainedModel(const std::string& dir, TrainableModel& model,
                               const configs::TrainingArguments& args) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const fs::path staging = fs::path(dir) / absl::StrCat(".tmp-output-", ::getpid());
  fs::remove_all(staging, ec);
  if (model.use_lora) {
    const io::PeftLoraConfig config =
        model::PeftConfigFor(*model.decoder, model.lora, args.model_name_or_path);
    ZT_RETURN_IF_ERROR(
        io::WritePeftAdapter(staging.string(), config, model::LoraStateDict(*model.decoder)));
  } else {
    ZT_ASSIGN_OR_RETURN(nlohmann::json config, io::ReadConfigJson(args.model_name_or_path));
    const char* dtype = model::HfDtypeName(model.decoder->dtype());
    config["torch_dtype"] = dtype;
    config["dtype"] = dtype;
    ZT_RETURN_IF_ERROR(io::WriteHfModelFolder(staging.string(), config,
                                              model.decoder->BaseStateDict(),
                                              /*max_shard_bytes=*/5000000000ull,
                                              args.model_name_or_path));
  }
  return Publish(staging, dir);
}

}  // namespace zt::worker::train
