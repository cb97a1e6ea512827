// coordinator_load_bench [--ranks 512] [--channels 512] [--heartbeat_seconds 3] [--inflight 256]
//
// Loads one in-process coordinator on loopback the way a large job does and prints a table:
//   1. every simulated rank calls RegisterWorker (each blocks until the whole world
//      registered: the rendezvous), target < 2 s for 512 ranks;
//   2. rank 0 Sets a 128-byte "NCCL unique id", every rank Gets it (the store rendezvous);
//   3. every rank enters one Barrier;
//   4. heartbeats from all ranks with `inflight` outstanding for `heartbeat_seconds`: the
//      sustained rate the coordinator answers.
// Ranks are asynchronous calls (gRPC's callback client API), spread over `channels` channels
// (one TCP connection each), so the 2-core machine measures the server, not client threads.
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "coordinator/coordinator_server.h"
#include "coordinator/protocol.h"
#include "proto/zerotune.grpc.pb.h"

namespace zc = zt::coordinator;

namespace {

struct Flags {
  int ranks = 512;
  int channels = 512;
  double heartbeat_seconds = 3;
  int inflight = 256;
};

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--ranks") flags.ranks = std::atoi(argv[i + 1]);
    else if (name == "--channels") flags.channels = std::atoi(argv[i + 1]);
    else if (name == "--heartbeat_seconds") flags.heartbeat_seconds = std::atof(argv[i + 1]);
    else if (name == "--inflight") flags.inflight = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "coordinator_load_bench: unknown flag %s\n", argv[i]);
      std::exit(2);
    }
  }
  return flags;
}

// Counts completions of one phase; Await() blocks until `expected` arrived (deadline 60 s).
class Completion {
 public:
  explicit Completion(int expected) : expected_(expected) {}
  void Done(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    ++done_;
    if (!status.ok() && failures_++ == 0) first_error_ = status.error_message();
  }
  bool Await() {
    absl::MutexLock lock(&mu_);
    auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= expected_; };
    mu_.AwaitWithDeadline(absl::Condition(&all), absl::Now() + absl::Seconds(60));
    if (failures_ > 0 || done_ < expected_) {
      std::fprintf(stderr, "%d of %d calls failed or missing; first error: %s\n",
                   failures_ + expected_ - done_, expected_, first_error_.c_str());
      return false;
    }
    return true;
  }

 private:
  absl::Mutex mu_;
  int expected_;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

// The per-rank state of the simulation (calls need their contexts and replies kept alive).
struct Rank {
  zt::proto::Coordinator::Stub* stub = nullptr;
  zt::proto::Header header;
  std::unique_ptr<grpc::ClientContext> context;
  zt::proto::RegisterWorkerReply registered;
  zt::proto::GetReply got;
  zt::proto::BarrierReply barrier;
};

std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  context->AddMetadata(zc::kTokenMetadataKey, token);
  return context;
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  RaiseFileLimit();
  zc::ServiceOptions service;
  service.job.job_id = "bench";
  service.job.world_size = flags.ranks;
  service.job.heartbeat_interval = absl::Seconds(1);
  service.job.heartbeat_timeout = absl::Seconds(120);
  service.token = zc::GenerateToken();
  service.log_rejections = false;
  absl::StatusOr<std::unique_ptr<zc::CoordinatorServer>> server = zc::CoordinatorServer::Start(
      zc::ServerOptions{}, std::make_unique<zc::CoordinatorService>(service, zc::Clock::Real()));
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<zt::proto::Coordinator::Stub>> stubs;
  for (int c = 0; c < flags.channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per channel
    stubs.push_back(zt::proto::Coordinator::NewStub(grpc::CreateCustomChannel(
        (*server)->address(), grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<Rank> ranks(flags.ranks);
  for (int r = 0; r < flags.ranks; ++r) {
    ranks[r].stub = stubs[r % stubs.size()].get();
    zc::FillHeader(0, -1, &ranks[r].header);
  }

  // 1. RegisterWorker from every rank; each answer arrives when the world is complete.
  const absl::Time register_start = absl::Now();
  Completion registered(flags.ranks);
  for (int r = 0; r < flags.ranks; ++r) {
    auto request = std::make_shared<zt::proto::RegisterWorkerRequest>();
    *request->mutable_header() = ranks[r].header;
    request->set_host(absl::StrFormat("node%03d", r / 8));
    request->set_device(r % 8);
    request->set_pid(100000 + r);
    request->set_timeout_ms(60000);
    ranks[r].context = Context(service.token);
    ranks[r].context->set_wait_for_ready(true);
    ranks[r].stub->async()->RegisterWorker(ranks[r].context.get(), request.get(), &ranks[r].registered,
                                           [&registered, request](grpc::Status s) { registered.Done(s); });
  }
  if (!registered.Await()) return 1;
  const absl::Duration register_time = absl::Now() - register_start;
  for (Rank& rank : ranks) rank.header.set_rank(rank.registered.rank());

  // 2. Store rendezvous: rank 0 publishes a 128-byte id, every rank reads it.
  const absl::Time kv_start = absl::Now();
  Completion got(flags.ranks);
  for (int r = 0; r < flags.ranks; ++r) {
    auto request = std::make_shared<zt::proto::WaitRequest>();
    *request->mutable_header() = ranks[r].header;
    request->add_keys("zt/bench/gen0/nccl_id");
    request->set_timeout_ms(60000);
    ranks[r].context = Context(service.token);
    ranks[r].stub->async()->Get(ranks[r].context.get(), request.get(), &ranks[r].got,
                                [&got, request](grpc::Status s) { got.Done(s); });
  }
  {
    zt::proto::SetRequest set;
    *set.mutable_header() = ranks[0].header;
    set.set_key("zt/bench/gen0/nccl_id");
    set.set_value(std::string(128, 'x'));
    zt::proto::SetReply reply;
    auto context = Context(service.token);
    grpc::Status status = ranks[0].stub->Set(context.get(), set, &reply);
    if (!status.ok()) return 1;
  }
  if (!got.Await()) return 1;
  const absl::Duration kv_time = absl::Now() - kv_start;

  // 3. One barrier of the whole world.
  const absl::Time barrier_start = absl::Now();
  Completion barrier(flags.ranks);
  for (int r = 0; r < flags.ranks; ++r) {
    auto request = std::make_shared<zt::proto::BarrierRequest>();
    *request->mutable_header() = ranks[r].header;
    request->set_name("bench");
    request->set_timeout_ms(60000);
    ranks[r].context = Context(service.token);
    ranks[r].stub->async()->Barrier(ranks[r].context.get(), request.get(), &ranks[r].barrier,
                                    [&barrier, request](grpc::Status s) { barrier.Done(s); });
  }
  if (!barrier.Await()) return 1;
  const absl::Duration barrier_time = absl::Now() - barrier_start;

  // 4. Heartbeats with `inflight` outstanding, round-robin over the ranks.
  std::atomic<int64_t> beats{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int> next_rank{0};
  std::atomic<int> outstanding{0};
  const absl::Time beat_end = absl::Now() + absl::Seconds(flags.heartbeat_seconds);
  std::function<void()> send = [&] {
    if (absl::Now() >= beat_end) return;
    const int r = next_rank.fetch_add(1) % flags.ranks;
    struct Call {
      std::unique_ptr<grpc::ClientContext> context;
      zt::proto::HeartbeatRequest request;
      zt::proto::HeartbeatReply reply;
    };
    auto call = std::make_shared<Call>();
    call->context = Context(service.token);
    *call->request.mutable_header() = ranks[r].header;
    call->request.set_step(1);
    ++outstanding;
    ranks[r].stub->async()->Heartbeat(call->context.get(), &call->request, &call->reply,
                                      [&, call](grpc::Status s) {
                                        (s.ok() ? beats : failed).fetch_add(1);
                                        send();
                                        --outstanding;
                                      });
  };
  const absl::Time beat_start = absl::Now();
  for (int i = 0; i < flags.inflight; ++i) send();
  while (outstanding.load() > 0) absl::SleepFor(absl::Milliseconds(5));
  const double beat_seconds = absl::ToDoubleSeconds(absl::Now() - beat_start);
  const double rate = beats.load() / beat_seconds;

  std::printf("coordinator load: %d simulated ranks over %d channels on %s (loopback)\n\n",
              flags.ranks, flags.channels, (*server)->address().c_str());
  std::printf("| phase                                   | ranks | time (ms) | target       |\n");
  std::printf("| --------------------------------------- | ----- | --------- | ------------ |\n");
  std::printf("| RegisterWorker + rendezvous (all ranks) | %5d | %9.1f | < 2000 ms %-2s |\n", flags.ranks,
              absl::ToDoubleMilliseconds(register_time), register_time < absl::Seconds(2) ? "ok" : "no");
  std::printf("| store rendezvous: 1 Set, all ranks Get  | %5d | %9.1f |              |\n",
              flags.ranks, absl::ToDoubleMilliseconds(kv_time));
  std::printf("| Barrier (all ranks)                     | %5d | %9.1f |              |\n", flags.ranks,
              absl::ToDoubleMilliseconds(barrier_time));
  std::printf("\n| heartbeats | in flight | seconds | answered | failed | rate (/s) | ranks at 1 Hz |\n");
  std::printf("| ---------- | --------- | ------- | -------- | ------ | --------- | ------------- |\n");
  std::printf("| sustained  | %9d | %7.2f | %8lld | %6lld | %9.0f | %13.0f |\n", flags.inflight,
              beat_seconds, static_cast<long long>(beats.load()), static_cast<long long>(failed.load()),
              rate, rate);
  (*server)->Shutdown(absl::Milliseconds(100));
  return 0;
}
