#include "tests/support/command_run.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace zt::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

CommandRun RunCommand(const std::string& command, const std::string& scratch_dir,
                      const std::string& stdin_text) {
  const std::string in_path = scratch_dir + "/stdin.txt";
  const std::string err_path = scratch_dir + "/stderr.txt";
  std::ofstream(in_path) << stdin_text;
  CommandRun run;
  FILE* pipe = popen((command + " <'" + in_path + "' 2>'" + err_path + "'").c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = Slurp(err_path);
  return run;
}

}  // namespace zt::testing
