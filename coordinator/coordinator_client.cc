#include "coordinator/coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/protocol.h"
#include "sharding/collectives/store.h"

namespace zt::coordinator {
namespace {

// The server answers a wait itself at its deadline (naming the keys); the transport deadline
// sits a little later so that answer, not a bare DEADLINE_EXCEEDED, reaches the caller.
constexpr absl::Duration kTransportSlack = absl::Seconds(2);

#define ZT_RETURN_IF_GRPC_ERROR(call)                          \
  do {                                                         \
    ::grpc::Status zt_grpc_status_ = (call);                   \
    if (!zt_grpc_status_.ok()) return FromGrpcStatus(zt_grpc_status_); \
  } while (0)

// Rounded up: a wait the server ends early would break the Store contract (never before the
// deadline).
int64_t MillisUntil(absl::Time deadline) {
  const absl::Duration left = absl::Ceil(deadline - absl::Now(), absl::Milliseconds(1));
  return std::max<int64_t>(0, absl::ToInt64Milliseconds(left));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read TLS file '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const char* Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

absl::StatusOr<ClientOptions> ClientOptionsFromEnv() {
  ClientOptions options;
  const char* address = Env(kEnvCoordinator);
  const char* token = Env(kEnvToken);
  if (address == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        kEnvCoordinator, " is not set; expected host:port of the coordinator (set by `zerotune "
                         "launch`, or export it with the token from `zerotune serve`)"));
  }
  if (token == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(kEnvToken, " is not set; expected the job token of ", address));
  }
  options.address = address;
  options.token = token;
  if (const char* ca = Env(kEnvTlsCa)) options.tls_ca_file = ca;
  return options;
}

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(
    const ClientOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("coordinator address is empty; expected host:port");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(options.tls_ca_file);
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *ca;
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.address, credentials, args);
  return std::unique_ptr<CoordinatorClient>(
      new CoordinatorClient(options, proto::Coordinator::NewStub(channel)));
}

CoordinatorClient::CoordinatorClient(ClientOptions options,
                                     std::unique_ptr<proto::Coordinator::Stub> stub)
    : options_(std::move(options)), stub_(std::move(stub)) {}

absl::Time CoordinatorClient::DefaultDeadline() const { return absl::Now() + options_.rpc_timeout; }

std::unique_ptr<grpc::ClientContext> CoordinatorClient::NewContext(absl::Time deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(deadline));
  context->AddMetadata(kTokenMetadataKey, options_.token);
  return context;
}

void CoordinatorClient::FillHeader(proto::Header* header) const {
  coordinator::FillHeader(generation_, rank_, header);
}

absl::StatusOr<proto::RegisterWorkerReply> CoordinatorClient::Register(const std::string& host,
                                                                       int device, int64_t pid,
                                                                       absl::Time deadline) {
  proto::RegisterWorkerRequest request;
  FillHeader(request.mutable_header());
  request.set_host(host);
  request.set_device(device);
  request.set_pid(pid);
  request.set_timeout_ms(MillisUntil(deadline));
  proto::RegisterWorkerReply reply;
  auto context = NewContext(deadline + kTransportSlack);
  // Ranks start at different times: wait for the server to come up rather than failing.
  context->set_wait_for_ready(true);
  ZT_RETURN_IF_GRPC_ERROR(stub_->RegisterWorker(context.get(), request, &reply));
  return reply;
}

absl::Status CoordinatorClient::Set(const std::string& key, const std::string& value) {
  proto::SetRequest request;
  FillHeader(request.mutable_header());
  request.set_key(key);
  request.set_value(value);
  proto::SetReply reply;
  return FromGrpcStatus(stub_->Set(NewContext(DefaultDeadline()).get(), request, &reply));
}

absl::StatusOr<std::string> CoordinatorClient::Get(const std::string& key, absl::Time deadline) {
  proto::WaitRequest request;
  FillHeader(request.mutable_header());
  request.add_keys(key);
  request.set_timeout_ms(MillisUntil(deadline));
  proto::GetReply reply;
  ZT_RETURN_IF_GRPC_ERROR(
      stub_->Get(NewContext(deadline + kTransportSlack).get(), request, &reply));
  return std::move(*reply.mutable_value());
}

absl::Status CoordinatorClient::Wait(const std::vector<std::string>& keys, absl::Time deadline) {
  proto::WaitRequest request;
  FillHeader(request.mutable_header());
  for (const std::string& key : keys) request.add_keys(key);
  request.set_timeout_ms(MillisUntil(deadline));
  proto::WaitReply reply;
  return FromGrpcStatus(
      stub_->Wait(NewContext(deadline + kTransportSlack).get(), request, &reply));
}

absl::StatusOr<int64_t> CoordinatorClient::Add(const std::string& key, int64_t delta) {
  proto::AddRequest request;
  FillHeader(request.mutable_header());
  request.set_key(key);
  request.set_delta(delta);
  proto::AddReply reply;
  ZT_RETURN_IF_GRPC_ERROR(stub_->Add(NewContext(DefaultDeadline()).get(), request, &reply));
  return reply.value();
}

absl::StatusOr<bool> CoordinatorClient::Delete(const std::string& key) {
  proto::KeyRequest request;
  FillHeader(request.mutable_header());
  request.set_key(key);
  proto::DeleteReply reply;
  ZT_RETURN_IF_GRPC_ERROR(stub_->Delete(NewContext(DefaultDeadline()).get(), request, &reply));
  return reply.existed();
}

absl::StatusOr<bool> CoordinatorClient::Check(const std::vector<std::string>& keys) {
  proto::CheckRequest request;
  FillHeader(request.mutable_header());
  for (const std::string& key : keys) request.add_keys(key);
  proto::CheckReply reply;
  ZT_RETURN_IF_GRPC_ERROR(stub_->Check(NewContext(DefaultDeadline()).get(), request, &reply));
  return reply.all_present();
}

absl::StatusOr<proto::HeartbeatReply> CoordinatorClient::Heartbeat(int64_t step) {
  proto::HeartbeatRequest request;
  FillHeader(request.mutable_header());
  request.set_step(step);
  proto::HeartbeatReply reply;
  ZT_RETURN_IF_GRPC_ERROR(
      stub_->Heartbeat(NewContext(DefaultDeadline()).get(), request, &reply));
  return reply;
}

absl::Status CoordinatorClient::ReportMetrics(const proto::MetricsRequest& metrics) {
  proto::MetricsRequest request = metrics;
  FillHeader(request.mutable_header());
  proto::MetricsReply reply;
  return FromGrpcStatus(
      stub_->ReportMetrics(NewContext(DefaultDeadline()).get(), request, &reply));
}

absl::Status CoordinatorClient::Barrier(const std::string& name, absl::Time deadline) {
  proto::BarrierRequest request;
  FillHeader(request.mutable_header());
  request.set_name(name);
  request.set_timeout_ms(MillisUntil(deadline));
  proto::BarrierReply reply;
  return FromGrpcStatus(
      stub_->Barrier(NewContext(deadline + kTransportSlack).get(), request, &reply));
}

absl::Status CoordinatorClient::ReportExit(proto::ReportExitRequest request) {
  FillHeader(request.mutable_header());
  proto::ReportExitReply reply;
  return FromGrpcStatus(
      stub_->ReportExit(NewContext(DefaultDeadline()).get(), request, &reply));
}

absl::StatusOr<proto::GetStatusReply> CoordinatorClient::GetStatus() {
  proto::GetStatusRequest request;
  FillHeader(request.mutable_header());
  proto::GetStatusReply reply;
  ZT_RETURN_IF_GRPC_ERROR(
      stub_->GetStatus(NewContext(DefaultDeadline()).get(), request, &reply));
  return reply;
}

absl::StatusOr<proto::StopJobReply> CoordinatorClient::StopJob(bool checkpoint,
                                                               const std::string& reason) {
  proto::StopJobRequest request;
  FillHeader(request.mutable_header());
  request.set_checkpoint(checkpoint);
  request.set_reason(reason);
  proto::StopJobReply reply;
  ZT_RETURN_IF_GRPC_ERROR(stub_->StopJob(NewContext(DefaultDeadline()).get(), request, &reply));
  return reply;
}

}  // namespace zt::coordinator
