// The Coordinator service over real gRPC on loopback: token and version checks, rendezvous,
// barrier, heartbeat timeout (fake clock) streamed as an abort event, status and stop.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/coordinator_service.h"
#include "coordinator/failure_report.h"
#include "coordinator/protocol.h"
#include "tests/coordinator/coordinator_harness.h"
#include "tests/support/temp_dir.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

JobOptions TwoRanks() {
  JobOptions job;
  job.job_id = "svc";
  job.world_size = 2;
  job.heartbeat_interval = absl::Milliseconds(100);
  job.heartbeat_timeout = absl::Seconds(1);
  return job;
}

// Registers `clients[i]` as (host, device i) concurrently; returns the replies.
std::vector<proto::RegisterWorkerReply> RegisterAll(
    const std::vector<std::shared_ptr<CoordinatorClient>>& clients) {
  std::vector<std::future<absl::StatusOr<proto::RegisterWorkerReply>>> futures;
  for (size_t i = 0; i < clients.size(); ++i) {
    futures.push_back(std::async(std::launch::async, [&clients, i] {
      return clients[i]->Register("localhost", static_cast<int>(i), 1000 + i,
                                  absl::Now() + absl::Seconds(10));
    }));
  }
  std::vector<proto::RegisterWorkerReply> replies;
  for (size_t i = 0; i < futures.size(); ++i) {
    absl::StatusOr<proto::RegisterWorkerReply> reply = futures[i].get();
    EXPECT_TRUE(reply.ok()) << reply.status();
    replies.push_back(reply.ok() ? *reply : proto::RegisterWorkerReply());
    clients[i]->set_rank(replies.back().rank());
  }
  return replies;
}

TEST(CoordinatorServiceTest, WrongTokenIsUnauthenticatedOnEveryRpc) {
  auto harness = testing::Harness::Start(TwoRanks());
  auto intruder = harness->NewClient("not-the-token");
  absl::Status set = intruder->Set("k", "v");
  EXPECT_EQ(set.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(set.message()), HasSubstr("wrong job token"));
  EXPECT_EQ(intruder->Heartbeat(1).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(intruder->GetStatus().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(intruder->StopJob(false, "x").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(intruder->Register("h", 0, 1, absl::Now() + absl::Seconds(5)).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Nothing reached the job.
  EXPECT_FALSE(*harness->NewClient()->Check({"k"}));
  EXPECT_EQ(harness->server->service().phase(), JobPhase::kPending);
}

TEST(CoordinatorServiceTest, WrongProtocolVersionNamesBothVersions) {
  auto harness = testing::Harness::Start(TwoRanks());
  auto client = harness->NewClient();
  proto::SetRequest request;
  FillHeader(0, -1, request.mutable_header());
  request.mutable_header()->set_protocol_version(kProtocolVersion + 41);
  request.set_key("k");
  proto::SetReply reply;
  grpc::Status status =
      client->stub().Set(client->NewContext(absl::Now() + absl::Seconds(5)).get(), request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("client speaks 42"));
  EXPECT_THAT(status.error_message(), HasSubstr("coordinator speaks 1"));
}

TEST(CoordinatorServiceTest, RendezvousAssignsRanksAndTheSourceAddress) {
  auto harness = testing::Harness::Start(TwoRanks());
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(), harness->NewClient()};
  std::vector<proto::RegisterWorkerReply> replies = RegisterAll(clients);
  EXPECT_EQ(replies[0].rank(), 0);
  EXPECT_EQ(replies[1].rank(), 1);
  EXPECT_EQ(replies[1].world_size(), 2);
  EXPECT_EQ(replies[1].local_world_size(), 2);
  EXPECT_EQ(replies[0].advertise_address(), "127.0.0.1");
  EXPECT_EQ(replies[1].master_addr(), "127.0.0.1");
  EXPECT_EQ(replies[0].heartbeat_timeout_ms(), 1000);
  EXPECT_EQ(harness->server->service().phase(), JobPhase::kRunning);
}

TEST(CoordinatorServiceTest, RendezvousTimesOutNamingTheCount) {
  auto harness = testing::Harness::Start(TwoRanks());
  absl::StatusOr<proto::RegisterWorkerReply> reply =
      harness->NewClient()->Register("h", 0, 1, absl::Now() + absl::Milliseconds(200));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(reply.status().message()), HasSubstr("1 of 2 ranks registered"));
}

// The finding: a registration that timed out kept its (host, device) pair, so its own
// retry was refused as a duplicate of itself.
TEST(CoordinatorServiceTest, TimedOutRegistrationIsWithdrawnSoItsRetryGetsIn) {
  auto harness = testing::Harness::Start(TwoRanks());
  auto first = harness->NewClient();
  absl::StatusOr<proto::RegisterWorkerReply> timed_out =
      first->Register("h", 0, 7, absl::Now() + absl::Milliseconds(200));
  ASSERT_EQ(timed_out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(harness->server->service().Status().ranks_size(), 0);
  auto retry = std::async(std::launch::async, [&] {
    return first->Register("h", 0, 7, absl::Now() + absl::Seconds(10));
  });
  absl::StatusOr<proto::RegisterWorkerReply> peer =
      harness->NewClient()->Register("h", 1, 8, absl::Now() + absl::Seconds(10));
  absl::StatusOr<proto::RegisterWorkerReply> again = retry.get();
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(again->rank(), 0);
  EXPECT_EQ(peer->rank(), 1);
  EXPECT_EQ(harness->server->service().phase(), JobPhase::kRunning);
}

// A process killed while it waits for the rendezvous: its call is cancelled, it is withdrawn,
// and the restarted process (same device, new pid) rendezvouses with the peer instead of the
// ghost.
TEST(CoordinatorServiceTest, CancelledRegistrationIsWithdrawn) {
  auto harness = testing::Harness::Start(TwoRanks());
  auto ghost = harness->NewClient();
  proto::RegisterWorkerRequest request;
  ghost->FillHeader(request.mutable_header());
  request.set_host("localhost");  // the pair RegisterAll's first client takes
  request.set_device(0);
  request.set_pid(7);
  request.set_timeout_ms(10000);
  auto context = ghost->NewContext(absl::Now() + absl::Seconds(10));
  proto::RegisterWorkerReply ignored;
  auto call = std::async(std::launch::async, [&] {
    return ghost->stub().RegisterWorker(context.get(), request, &ignored);
  });
  CoordinatorService& service = harness->server->service();
  for (int i = 0; i < 500 && service.Status().ranks_size() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(service.Status().ranks_size(), 1);
  context->TryCancel();
  EXPECT_EQ(call.get().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 500 && service.Status().ranks_size() != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(service.Status().ranks_size(), 0);
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(),
                                                             harness->NewClient()};
  std::vector<proto::RegisterWorkerReply> replies = RegisterAll(clients);
  EXPECT_EQ(replies[0].rank(), 0);
  EXPECT_EQ(service.phase(), JobPhase::kRunning);
  const proto::GetStatusReply status = service.Status();
  for (const proto::RankStatus& rank : status.ranks()) EXPECT_NE(rank.pid(), 7);
}

TEST(CoordinatorServiceTest, BarrierReleasesEveryoneAndTimesOutNamingMissingRanks) {
  auto harness = testing::Harness::Start(TwoRanks());
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(), harness->NewClient()};
  RegisterAll(clients);
  absl::Status lonely = clients[0]->Barrier("one", absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(lonely.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(lonely.message()), HasSubstr("waiting for rank(s) 1"));
  auto other = std::async(std::launch::async, [&] {
    return clients[1]->Barrier("two", absl::Now() + absl::Seconds(10));
  });
  EXPECT_TRUE(clients[0]->Barrier("two", absl::Now() + absl::Seconds(10)).ok());
  EXPECT_TRUE(other.get().ok());
}

TEST(CoordinatorServiceTest, SilentRankAbortsTheJobThroughWatchJob) {
  FakeClock clock;
  auto harness = testing::Harness::Start(TwoRanks(), &clock);
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(), harness->NewClient()};
  RegisterAll(clients);
  proto::WatchJobRequest request;
  clients[0]->FillHeader(request.mutable_header());
  auto context = clients[0]->NewContext(absl::Now() + absl::Seconds(20));
  auto reader = clients[0]->stub().WatchJob(context.get(), request);
  ASSERT_TRUE(clients[0]->Heartbeat(3).ok());
  clock.Advance(absl::Milliseconds(900));
  ASSERT_TRUE(clients[0]->Heartbeat(4).ok());
  clock.Advance(absl::Milliseconds(200));  // rank 1 silent for 1.1 s > 1 s
  proto::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.kind(), proto::JobEvent::ABORT);
  EXPECT_THAT(event.reason(), HasSubstr("rank 1"));
  EXPECT_THAT(event.reason(), HasSubstr("no heartbeat"));
  EXPECT_EQ(harness->server->service().phase(), JobPhase::kFailed);
  proto::GetStatusReply status = *clients[0]->GetStatus();
  EXPECT_EQ(status.state(), "failed");
  EXPECT_THAT(status.failure_report(), HasSubstr("rank      : 1"));
  context->TryCancel();
}

TEST(CoordinatorServiceTest, StopWithCheckpointBroadcastsTheStopStep) {
  auto harness = testing::Harness::Start(TwoRanks());
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(), harness->NewClient()};
  RegisterAll(clients);
  ASSERT_TRUE(clients[1]->Heartbeat(9).ok());
  proto::WatchJobRequest request;
  clients[0]->FillHeader(request.mutable_header());
  auto context = clients[0]->NewContext(absl::Now() + absl::Seconds(20));
  auto reader = clients[0]->stub().WatchJob(context.get(), request);
  auto tool = harness->NewClient();
  absl::StatusOr<proto::StopJobReply> stop = tool->StopJob(true, "maintenance");
  ASSERT_TRUE(stop.ok()) << stop.status();
  EXPECT_EQ(stop->stop_step(), 10);
  proto::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.kind(), proto::JobEvent::CHECKPOINT_AND_STOP);
  EXPECT_EQ(event.step(), 10);
  // A rank that starts watching later still learns it.
  proto::WatchJobRequest late;
  clients[1]->FillHeader(late.mutable_header());
  auto late_context = clients[1]->NewContext(absl::Now() + absl::Seconds(20));
  auto late_reader = clients[1]->stub().WatchJob(late_context.get(), late);
  ASSERT_TRUE(late_reader->Read(&event));
  EXPECT_EQ(event.step(), 10);
  context->TryCancel();
  late_context->TryCancel();
}

TEST(CoordinatorServiceTest, StaleGenerationHeartbeatIsAborted) {
  auto harness = testing::Harness::Start(TwoRanks());
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(), harness->NewClient()};
  RegisterAll(clients);
  clients[0]->set_generation(5);
  EXPECT_EQ(clients[0]->Heartbeat(1).status().code(), absl::StatusCode::kAborted);
}

// The finding: a stale generation's Set was stored although the proto says stale RPCs are
// rejected (ABORTED, as Heartbeat and the rest).
TEST(CoordinatorServiceTest, StaleGenerationStoreRpcsAreAborted) {
  auto harness = testing::Harness::Start(TwoRanks());
  auto stale = harness->NewClient();
  stale->set_generation(-1);
  absl::Status set = stale->Set("k", "v");
  EXPECT_EQ(set.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(set.message()), HasSubstr("Set from restart generation -1"));
  EXPECT_THAT(std::string(set.message()), HasSubstr("at generation 0"));
  EXPECT_EQ(stale->Add("n", 1).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(stale->Delete("k").status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(stale->Check({"k"}).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(stale->Get("k", absl::Now() + absl::Seconds(5)).status().code(),
            absl::StatusCode::kAborted);
  auto current = harness->NewClient();
  EXPECT_FALSE(*current->Check({"k"}));  // nothing was stored
  EXPECT_TRUE(current->Set("k", "v").ok());
}

TEST(CoordinatorServiceTest, StoreCapsAreResourceExhaustedOverGrpc) {
  ServiceOptions options;
  options.job = TwoRanks();
  options.log_rejections = false;
  options.store_limits.max_value_bytes = 1024;
  options.store_limits.max_total_bytes = 4096;
  auto harness = testing::Harness::StartService(options);
  auto client = harness->NewClient();
  absl::Status big = client->Set("big", std::string(1025, 'x'));
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(big.message()), HasSubstr("--store_max_value_bytes"));
  int stored = 0;
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    status = client->Set(absl::StrCat("v", i), std::string(1000, 'x'));
    stored += status.ok();
  }
  EXPECT_EQ(stored, 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("--store_max_total_bytes"));
}

// The finding: 20,000 wrong-token requests wrote 20,002 log lines.
TEST(CoordinatorServiceTest, RejectedRpcsAreLoggedAtMostOncePerSecondPerKind) {
  std::ostringstream log;
  ServiceOptions options;
  options.job = TwoRanks();
  options.rejection_log = &log;
  FakeClock clock;  // never advances: every rejection after the first is suppressed
  {
    auto harness = testing::Harness::StartService(options, &clock);
    auto intruder = harness->NewClient("not-the-token");
    for (int i = 0; i < 300; ++i) {
      ASSERT_EQ(intruder->Set("k", "v").code(), absl::StatusCode::kUnauthenticated);
    }
    const std::string lines = log.str();
    EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1) << lines;
    EXPECT_THAT(log.str(), HasSubstr("rejected Set from"));
  }
  EXPECT_THAT(log.str(), HasSubstr("299 more 'Set: wrong job token' line(s) suppressed"));
}

// The finding under real ranks: rank 0 failed first (ENOSPC), rank 1's consequential error
// reached the coordinator first, and the report named rank 1. Error-file time decides.
TEST(CoordinatorServiceTest, RootCauseIsTheFirstFailureInTimeNotTheFirstReport) {
  auto harness = testing::Harness::Start(TwoRanks());
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(),
                                                             harness->NewClient()};
  RegisterAll(clients);
  const absl::Time start = absl::Now();
  proto::ReportExitRequest late;
  late.set_reason(proto::ReportExitRequest::FAILED);
  late.set_error_json(MakeErrorFileJson("[rank 1] UNAVAILABLE: peer closed the connection", "",
                                        start + absl::Milliseconds(40)));
  ASSERT_TRUE(clients[1]->ReportExit(late).ok());
  proto::ReportExitRequest first;
  first.set_reason(proto::ReportExitRequest::FAILED);
  first.set_error_json(MakeErrorFileJson("[rank 0] checkpoint: No space left on device", "",
                                         start + absl::Milliseconds(10)));
  ASSERT_TRUE(clients[0]->ReportExit(first).ok());
  const std::string report = harness->server->service().FailureReport();
  EXPECT_THAT(report, HasSubstr("rank      : 0"));
  EXPECT_THAT(report, HasSubstr("message   : [rank 0] checkpoint: No space left on device"));
  EXPECT_THAT(report, HasSubstr("2 failure(s) in generation 0"));
}

// The abort every rank prints names the failed rank and what was seen, not its message again.
TEST(CoordinatorServiceTest, AbortReasonDoesNotRepeatTheRanksMessage) {
  auto harness = testing::Harness::Start(TwoRanks());
  std::vector<std::shared_ptr<CoordinatorClient>> clients = {harness->NewClient(),
                                                             harness->NewClient()};
  RegisterAll(clients);
  proto::WatchJobRequest watch;
  clients[0]->FillHeader(watch.mutable_header());
  auto context = clients[0]->NewContext(absl::Now() + absl::Seconds(20));
  auto reader = clients[0]->stub().WatchJob(context.get(), watch);
  proto::ReportExitRequest failed;
  failed.set_reason(proto::ReportExitRequest::FAILED);
  failed.set_error_json(MakeErrorFileJson("[rank 1] disk full", "", absl::Now()));
  ASSERT_TRUE(clients[1]->ReportExit(failed).ok());
  proto::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.reason(),
            "rank 1 on localhost failed (reported an error); no restarts left "
            "(max_restarts 0)");
  context->TryCancel();
}

// A self-signed pair made by openssl: a TLS client with it as CA works, a plaintext client
// cannot talk to the TLS server at all.
TEST(CoordinatorServiceTest, TlsServerRejectsPlaintextClients) {
  zt::testing::TempDir dir;
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout ", dir.Join("key.pem"),
      " -out ", dir.Join("cert.pem"), " >/dev/null 2>&1");
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "openssl is not installed";
  ServerOptions server;
  server.tls_cert_file = dir.Join("cert.pem");
  server.tls_key_file = dir.Join("key.pem");
  auto harness = testing::Harness::Start(TwoRanks(), Clock::Real(), "", server);
  ASSERT_NE(harness, nullptr);
  auto tls = harness->NewClient();
  EXPECT_TRUE(tls->Set("k", "v").ok());
  ClientOptions plaintext = harness->client_options();
  plaintext.tls_ca_file.clear();
  plaintext.rpc_timeout = absl::Seconds(2);
  auto client = *CoordinatorClient::Connect(plaintext);
  absl::Status status = client->Set("k", "w");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(*tls->Get("k", absl::Now() + absl::Seconds(5)), "v");
}

TEST(CoordinatorServiceTest, HalfGivenTlsFilesAreInvalidArgument) {
  ServerOptions server;
  server.tls_cert_file = "cert.pem";
  ServiceOptions options;
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> started = CoordinatorServer::Start(
      server, std::make_unique<CoordinatorService>(options, Clock::Real()));
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("--tls_key"));
}

}  // namespace
}  // namespace zt::coordinator
