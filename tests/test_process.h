// Child processes for the tests that kill jobs: start one with its output in a log file, wait for
// it or SIGKILL it at a given moment.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sluice::testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Starts `program` with `args`, standard output and error appended to `log`.
inline pid_t spawn_process(const std::string& program, const std::vector<std::string>& args,
                           const std::filesystem::path& log) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  std::string name = program;
  argv.push_back(name.data());
  for (auto& arg : copy) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + program);
  return pid;
}

// Waits for `pid`; kills it first if `kill_at` comes before it exits. The exit code, -1 if
// killed, -1000 - signal if a signal ended it.
inline int wait_process(pid_t pid, std::optional<std::chrono::steady_clock::time_point> kill_at) {
  int status = 0;
  while (true) {
    const pid_t done = ::waitpid(pid, &status, kill_at ? WNOHANG : 0);
    if (done == pid) break;
    if (kill_at && std::chrono::steady_clock::now() >= *kill_at) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFSIGNALED(status)) return -1000 - WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace sluice::testing
