// memstore with [tls] as a process: its HTTP API over HTTPS (curl --cacert),
// its native port over TLS (raftctl --cacert), and SIGHUP reloading the
// certificate files (a failed reload keeps the old ones and says why).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/examples/memstore_cluster.h"
#include "tests/net/test_certs.h"

namespace raft::examples_test {
namespace {

TEST(MemstoreTls, ServesHttpsAndReloadsOnSighup) {
  const std::string dir = temp_dir("memstore-tls");
  raft::testing::TestCa ca("memstore test CA");
  ca.write_ca(dir + "/ca.pem");
  ca.issue(dir + "/n1.pem", dir + "/n1.key", "node1");
  const std::string raft = absl::StrCat("127.0.0.1:", free_port());
  const std::string http = absl::StrCat("127.0.0.1:", free_port());
  const std::string toml = absl::StrCat(
      "[node]\nid = 1\naddress = \"", raft, "\"\ndata_dir = \"", dir, "/data\"\n",
      "[raft]\ntick_interval_ms = 20\nelection_ticks = 10\n[[peers]]\nid = 1\naddress = \"", raft,
      "\"\n[tls]\nca_file = \"", dir, "/ca.pem\"\ncert_file = \"", dir, "/n1.pem\"\nkey_file = \"",
      dir, "/n1.key\"\n");
  std::ofstream(dir + "/n1.toml") << toml;
  Process p({MEMSTORE_BIN, "--config", dir + "/n1.toml", "--http", http, "--https", "--log-level",
             "info"},
            dir + "/n1.log");
  const std::string curl =
      absl::StrCat("curl -sS --max-time 5 --cacert ", dir, "/ca.pem https://", http);
  // Leader first: a put needs one.
  ASSERT_TRUE(eventually([&] {
    return absl::StrContains(run_command(curl + "/leader", dir).out, "\"leader_id\":1");
  })) << p.log();
  CommandResult put = run_command(curl + "/store/k -X PUT --data v1", dir);
  EXPECT_EQ(put.status, 0) << put.err;
  CommandResult get = run_command(curl + "/store/k", dir);
  EXPECT_EQ(get.out, "v1") << get.err;
  // Plain HTTP on the HTTPS port gets nothing.
  CommandResult plain =
      run_command(absl::StrCat("curl -sS --max-time 5 http://", http, "/leader"), dir);
  EXPECT_NE(plain.status, 0);
  // raftctl over the native TLS port.
  CommandResult members = run_command(
      absl::StrCat(RAFTCTL_BIN, " members list --cluster ", raft, " --cacert ", dir, "/ca.pem"),
      dir);
  EXPECT_EQ(members.status, 0) << members.err;

  // A bad key: SIGHUP fails, the old files stay.
  std::filesystem::copy_file(dir + "/n1.key", dir + "/good.key");
  std::ofstream(dir + "/n1.key") << "not a key\n";
  p.kill(SIGHUP);
  ASSERT_TRUE(eventually([&] { return absl::StrContains(p.log(), "TLS reload failed"); }))
      << p.log();
  EXPECT_EQ(run_command(curl + "/store/k", dir).out, "v1");
  // A new certificate: reloaded, new connections see it.
  ca.issue(dir + "/n1.pem", dir + "/n1.key", "node1-rotated");
  p.kill(SIGHUP);
  ASSERT_TRUE(eventually([&] { return absl::StrContains(p.log(), "TLS files reloaded"); }))
      << p.log();
  CommandResult verbose = run_command(curl + "/store/k -v", dir);
  EXPECT_EQ(verbose.out, "v1");
  EXPECT_TRUE(absl::StrContains(verbose.err, "node1-rotated")) << verbose.err;
  p.kill(SIGTERM);
  EXPECT_EQ(p.wait_exit(std::chrono::seconds(20)), 0) << p.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace raft::examples_test
