// `zerotune launch --hostfile` across two hosts made of two network namespaces joined by a
// veth pair (tests/launch/netns_pair.sh): the launcher and rank 0 in the first, rank 1
// started over real ssh (Debian's sshd, a key made for the run) in the second. The ranks
// rendezvous through the coordinator and all-reduce through Gloo across the link; cutting
// the link fails the job with a report naming the lost rank and host in bounded time.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/launch/launcher_e2e_support.h"
#include "tests/support/temp_dir.h"

namespace zt::launch::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kPair = std::string(ZT_SOURCE_ROOT) + "/tests/launch/netns_pair.sh";

class SshHostfileE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = MissingPrerequisite({"ip", "ssh", "ssh-keygen", "/usr/sbin/sshd", "setsid", "sha256sum"});
    if (!missing.empty()) GTEST_SKIP() << missing;
    const ShellResult start = Shell(absl::StrCat("ZT_SSH_PORT=", FreePort(), " ", kPair, " start ", dir_.path()),
                                    absl::Seconds(30));
    started_ = true;
    ASSERT_EQ(start.exit_code, 0) << start.output;
    for (absl::string_view line : absl::StrSplit(Slurp(dir_.Join("pair.env")), '\n')) {
      const std::vector<std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (kv.size() == 2) pair_[kv[0]] = kv[1];
    }
    std::ofstream(dir_.Join("hostfile")) << "# two hosts, one rank each\n"
                                        << pair_["ADDR_A"] << " slots=1\n"
                                        << pair_["ADDR_B"] << " slots=1\n";
  }
  void TearDown() override {
    if (!started_) return;
    const ShellResult stop = Shell(absl::StrCat(kPair, " stop ", dir_.path()), absl::Seconds(30));
    EXPECT_EQ(stop.exit_code, 0) << stop.output;
  }

  // `zerotune launch --hostfile ...` inside the first namespace.
  std::string LaunchCommand(const std::string& flags, const std::string& worker_args,
                            const std::string& ssh_port = "") {
    return absl::StrCat(
        "exec ip netns exec ", pair_["NS_A"], " ", ZT_ZEROTUNE_BIN, " launch --hostfile ", dir_.Join("hostfile"),
        " --ssh_port ", ssh_port.empty() ? pair_["SSH_PORT"] : ssh_port, " --ssh_option IdentityFile=", dir_.Join("id_ed25519"),
        " --ssh_option UserKnownHostsFile=", dir_.Join("known_hosts"),
        " --ssh_option StrictHostKeyChecking=yes --ssh_option IdentitiesOnly=yes ", flags, " -- ", worker_args);
  }

  zt::testing::TempDir dir_;
  std::map<std::string, std::string> pair_;
  bool started_ = false;
};

TEST_F(SshHostfileE2eTest, RanksInBothNamespacesRendezvousAndAllReduceOverSsh) {
  const absl::Time start = absl::Now();
  Background launch(LaunchCommand(absl::StrCat("--worker ", ZT_WORKER_BIN, " --heartbeat_timeout_ms 5000"),
                                  absl::StrCat("selftest --steps 8 --save_every 4 --step_ms 5 --output_dir ",
                                               dir_.Join("out"))),
                    dir_.Join("launch.log"));
  const int code = launch.Wait(absl::Now() + absl::Seconds(90));
  const std::string output = launch.output();
  ASSERT_EQ(code, 0) << output;
  std::cout << "[ measured ] 2 ranks over ssh, 8 Gloo all-reduces: " << absl::FormatDuration(absl::Now() - start) << "\n";
  EXPECT_THAT(output, HasSubstr(absl::StrCat("pre-flight: ", pair_["ADDR_B"],
                                             " reachable over ssh, same worker program, sees this machine as ",
                                             pair_["ADDR_A"])));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("on ", pair_["ADDR_A"], ":")));
  EXPECT_THAT(output, HasSubstr("2 rank(s) on 2 host(s) (1 over ssh)"));
  EXPECT_THAT(output, HasSubstr("rendezvous of 2 ranks complete"));
  // Each all-reduce adds 1 per rank: 8 steps × 2 ranks.
  EXPECT_EQ(Count(output, "selftest done: step 8 counter 16"), 2) << output;
  EXPECT_EQ(Slurp(dir_.Join("out/selftest/latest")), "8\n");
}

TEST_F(SshHostfileE2eTest, RemoteRankGetsTheForwardedEnvironmentAndNothingFromTheLogin) {
  std::ofstream(dir_.Join("env_file")) << "# DeepSpeed's .deepspeed_env format\nZT_FROM_FILE=a b 'c'\nNCCL_DEBUG=INFO\n";
  // /usr/bin/env as the "worker" prints each rank's environment (it never registers, so the
  // job then fails; only the environments matter here).
  Background launch(
      absl::StrCat("export NCCL_DEBUG=WARN GLOO_SOCKET_IFNAME=zt0 ZT_NOT_FORWARDED=1; ",
                   LaunchCommand(absl::StrCat("--worker /usr/bin/env --env_file ", dir_.Join("env_file"),
                                              " --rendezvous_timeout_s 5"),
                                 absl::StrCat("sh -c ", Quote("env > " + dir_.Join("env-$RANK.txt"))))),
      dir_.Join("launch.log"));
  launch.Wait(absl::Now() + absl::Seconds(60));
  const std::string remote = Slurp(dir_.Join("env-1.txt"));
  ASSERT_FALSE(remote.empty()) << launch.output();
  EXPECT_THAT(remote, HasSubstr("GLOO_SOCKET_IFNAME=zt0\n"));
  EXPECT_THAT(remote, HasSubstr("ZT_FROM_FILE=a b 'c'\n"));
  EXPECT_THAT(remote, HasSubstr("NCCL_DEBUG=INFO\n"));  // the env file wins
  EXPECT_THAT(remote, HasSubstr(absl::StrCat("ZEROTUNE_HOST=", pair_["ADDR_B"], "\n")));
  EXPECT_THAT(remote, HasSubstr("RANK=1\n"));
  EXPECT_THAT(remote, HasSubstr("GROUP_RANK=1\n"));
  EXPECT_THAT(remote, HasSubstr(absl::StrCat("MASTER_ADDR=", pair_["ADDR_A"], "\n")));
  EXPECT_THAT(remote, Not(HasSubstr("ZT_NOT_FORWARDED")));
  EXPECT_THAT(remote, Not(HasSubstr("SSH_CONNECTION")));  // sshd's login variables are gone
  // The job token arrives (through the channel's stdin, not the command line) intact.
  const std::string local = Slurp(dir_.Join("env-0.txt"));
  const size_t token = local.find("ZEROTUNE_TOKEN=");
  ASSERT_NE(token, std::string::npos) << local;
  EXPECT_THAT(remote, HasSubstr(local.substr(token, local.find('\n', token) - token + 1)));
  // The local rank keeps the launcher's whole environment.
  EXPECT_THAT(Slurp(dir_.Join("env-0.txt")), HasSubstr("ZT_NOT_FORWARDED=1\n"));
}

TEST_F(SshHostfileE2eTest, UnreachableHostFailsThePreflightBeforeAnyRankStarts) {
  // Nothing listens on port 1 of the second host: ssh fails to connect.
  Background launch(LaunchCommand(absl::StrCat("--worker ", ZT_WORKER_BIN),
                                  absl::StrCat("selftest --output_dir ", dir_.Join("out")), "1"),
                    dir_.Join("launch.log"));
  const int code = launch.Wait(absl::Now() + absl::Seconds(60));
  const std::string output = launch.output();
  EXPECT_EQ(code, 1) << output;
  EXPECT_THAT(output, HasSubstr(absl::StrCat("pre-flight: cannot reach host '", pair_["ADDR_B"], "' over ssh (exit 255)")));
  EXPECT_THAT(output, Not(HasSubstr("coordinator of job")));
}

TEST_F(SshHostfileE2eTest, CutLinkFailsTheJobNamingTheLostRankAndHost) {
  const absl::Duration timeout = absl::Seconds(2);
  const absl::Duration grace = absl::Seconds(1);
  Background launch(LaunchCommand(absl::StrCat("--worker ", ZT_WORKER_BIN,
                                               " --heartbeat_interval_ms 200 --heartbeat_timeout_ms 2000",
                                               " --abort_grace_ms 1000"),
                                  absl::StrCat("selftest --steps 100000 --save_every 100000 --step_ms 10",
                                               " --output_dir ", dir_.Join("out"))),
                    dir_.Join("launch.log"));
  ASSERT_TRUE(AwaitOutput(dir_.Join("launch.log"), "resuming at step 0", 2, absl::Seconds(60))) << launch.output();
  absl::SleepFor(absl::Milliseconds(500));  // some all-reduces across the link
  const std::vector<pid_t> remote = FindProcesses("zerotune-worker", "ZEROTUNE_HOST=" + pair_["ADDR_B"]);
  ASSERT_EQ(remote.size(), 1u) << launch.output();
  const absl::Time cut = absl::Now();
  const ShellResult down = Shell(absl::StrCat(kPair, " cut ", dir_.path()));
  ASSERT_EQ(down.exit_code, 0) << down.output;
  // Both ends on their own: the coordinator reports the lost rank, and the cut-off rank, whose
  // coordinator stopped answering, exits by itself (exit 79; nothing can reach it any more).
  const std::string lost = absl::StrCat("rank 1 on ", pair_["ADDR_B"], " failed (no heartbeat");
  absl::Duration reported_after = absl::InfiniteDuration();
  absl::Duration remote_gone = absl::InfiniteDuration();
  while (absl::Now() - cut < absl::Seconds(30) &&
         (reported_after == absl::InfiniteDuration() || remote_gone == absl::InfiniteDuration())) {
    if (reported_after == absl::InfiniteDuration() && Slurp(dir_.Join("launch.log")).find(lost) != std::string::npos) {
      reported_after = absl::Now() - cut;
    }
    if (remote_gone == absl::InfiniteDuration() && kill(remote[0], 0) != 0) remote_gone = absl::Now() - cut;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int code = launch.Wait(cut + absl::Seconds(30));
  const absl::Duration failed_after = absl::Now() - cut;
  const std::string output = launch.output();
  EXPECT_EQ(code, 1) << output;
  EXPECT_THAT(output, HasSubstr(lost));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("host      : ", pair_["ADDR_B"], "\n  rank      : 1")));
  // Detected within the heartbeat timeout (plus a heartbeat and a tick); the launcher exits
  // after the abort grace and the coordinator's shutdown.
  EXPECT_LT(reported_after, 2 * timeout) << output;
  EXPECT_LT(remote_gone, 2 * timeout) << "the rank behind the cut link kept running";
  EXPECT_LT(failed_after, 3 * timeout + grace) << output;
  std::cout << "[ measured ] link cut → failure naming rank 1 and its host: " << absl::FormatDuration(reported_after)
            << "; → the cut-off rank exited by itself: " << absl::FormatDuration(remote_gone)
            << "; → zerotune launch exited 1: " << absl::FormatDuration(failed_after) << "\n";
}

TEST_F(SshHostfileE2eTest, HungRemoteRankIsKilledThroughSshAndEveryRankRestarts) {
  // SIGSTOP: the remote rank cannot act on the abort, so only the launcher's kill of its ssh
  // client (the remote process group killed when the channel closes) ends it.
  const absl::Duration timeout = absl::Seconds(2);
  const absl::Duration grace = absl::Seconds(1);
  Background launch(LaunchCommand(absl::StrCat("--worker ", ZT_WORKER_BIN,
                                               " --heartbeat_interval_ms 200 --heartbeat_timeout_ms 2000",
                                               " --abort_grace_ms 1000 --max_restarts 1"),
                                  absl::StrCat("selftest --steps 150 --save_every 10 --step_ms 10 --output_dir ",
                                               dir_.Join("out"))),
                    dir_.Join("launch.log"));
  ASSERT_TRUE(AwaitOutput(dir_.Join("launch.log"), "resuming at step 0", 2, absl::Seconds(60))) << launch.output();
  absl::SleepFor(absl::Milliseconds(300));
  const std::vector<pid_t> remote = FindProcesses("zerotune-worker", "ZEROTUNE_HOST=" + pair_["ADDR_B"]);
  ASSERT_EQ(remote.size(), 1u) << launch.output();
  const absl::Time stopped = absl::Now();
  ASSERT_EQ(kill(remote[0], SIGSTOP), 0);
  absl::Duration killed_after = absl::InfiniteDuration();
  while (absl::Now() - stopped < absl::Seconds(20)) {
    if (kill(remote[0], 0) != 0) {
      killed_after = absl::Now() - stopped;
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_LT(killed_after, 2 * timeout + grace) << launch.output();
  const int code = launch.Wait(absl::Now() + absl::Seconds(90));
  const std::string output = launch.output();
  ASSERT_EQ(code, 0) << output;
  EXPECT_THAT(output, HasSubstr(absl::StrCat("rank 1 on ", pair_["ADDR_B"], " failed (no heartbeat")));
  EXPECT_THAT(output, HasSubstr("restarting every rank as generation 1"));
  EXPECT_THAT(output, HasSubstr("after 1 restart(s)"));
  // Resumed from the last checkpoint on both hosts: the counter still counts every step once.
  EXPECT_EQ(Count(output, "selftest done: step 150 counter 300"), 2) << output;
  std::cout << "[ measured ] remote rank stopped → killed through its ssh channel: "
            << absl::FormatDuration(killed_after) << " (heartbeat timeout 2s, grace 1s)\n";
}

}  // namespace
}  // namespace zt::launch::testing
