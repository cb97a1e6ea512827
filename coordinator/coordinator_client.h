// A connection to the coordinator: one channel (plaintext or TLS), the job token attached to
// every call, a deadline on every call, typed wrappers over the Coordinator RPCs.
// Thread-safe (gRPC stubs are); the generation and rank stamped into headers are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/zerotune.grpc.pb.h"

namespace zt::coordinator {

struct ClientOptions {
  std::string address;      // host:port
  std::string token;        // the job token ("" is sent as is and rejected by the server)
  std::string tls_ca_file;  // PEM; empty = plaintext
  absl::Duration rpc_timeout = absl::Seconds(30);  // deadline of non-blocking RPCs
};

// ZEROTUNE_COORDINATOR, ZEROTUNE_TOKEN and ZEROTUNE_TLS_CA; FailedPrecondition naming the
// missing variable.
absl::StatusOr<ClientOptions> ClientOptionsFromEnv();

class CoordinatorClient {
 public:
  // Creates the channel (lazily connected). InvalidArgument for an empty address or an
  // unreadable CA file.
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Connect(const ClientOptions& options);

  void set_generation(int64_t generation) { generation_ = generation; }
  void set_rank(int rank) { rank_ = rank; }
  int64_t generation() const { return generation_; }
  const ClientOptions& options() const { return options_; }

  // Blocks until every rank of the generation registered (the rendezvous) or `deadline`.
  absl::StatusOr<proto::RegisterWorkerReply> Register(const std::string& host, int device,
                                                      int64_t pid, absl::Time deadline);
  absl::Status Set(const std::string& key, const std::string& value);
  absl::StatusOr<std::string> Get(const std::string& key, absl::Time deadline);
  absl::Status Wait(const std::vector<std::string>& keys, absl::Time deadline);
  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta);
  absl::StatusOr<bool> Delete(const std::string& key);
  absl::StatusOr<bool> Check(const std::vector<std::string>& keys);
  absl::StatusOr<proto::HeartbeatReply> Heartbeat(int64_t step);
  absl::Status ReportMetrics(const proto::MetricsRequest& request);  // header filled here
  absl::Status Barrier(const std::string& name, absl::Time deadline);
  absl::Status ReportExit(proto::ReportExitRequest request);
  absl::StatusOr<proto::GetStatusReply> GetStatus();
  absl::StatusOr<proto::StopJobReply> StopJob(bool checkpoint, const std::string& reason);

  // The context for a call ending at `deadline`, token attached. For streaming calls.
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Time deadline) const;
  void FillHeader(proto::Header* header) const;
  proto::Coordinator::Stub& stub() { return *stub_; }

 private:
  CoordinatorClient(ClientOptions options, std::unique_ptr<proto::Coordinator::Stub> stub);
  absl::Time DefaultDeadline() const;

  ClientOptions options_;
  std::unique_ptr<proto::Coordinator::Stub> stub_;
  std::atomic<int64_t> generation_{0};
  std::atomic<int> rank_{-1};
};

}  // namespace zt::coordinator
