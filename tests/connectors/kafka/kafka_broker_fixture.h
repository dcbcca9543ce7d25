// A Kafka-protocol broker process for a test (kafka_test_broker, on loopback), and kcat, the
// independent client the tests use to put data into Kafka and to prove what is in it.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace sluice::testing {

class KafkaBroker {
 public:
  explicit KafkaBroker(std::vector<std::string> flags = {}) {
    int to_broker[2], from_broker[2];
    if (::pipe2(to_broker, O_CLOEXEC) != 0 || ::pipe2(from_broker, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_broker[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_broker[1], STDOUT_FILENO);
    std::vector<std::string> args = {SLUICE_KAFKA_TEST_BROKER};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_broker[0]);
    ::close(from_broker[1]);
    if (rc != 0) throw std::runtime_error("cannot start the test broker");
    commands_ = ::fdopen(to_broker[1], "w");
    replies_ = ::fdopen(from_broker[0], "r");
    bootstrap_ = line();
    if (bootstrap_.empty()) throw std::runtime_error("the test broker did not start");
  }
  ~KafkaBroker() {
    if (commands_ != nullptr) {
      std::fputs("quit\n", commands_);
      std::fclose(commands_);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    if (replies_ != nullptr) std::fclose(replies_);
  }
  KafkaBroker(const KafkaBroker&) = delete;
  KafkaBroker& operator=(const KafkaBroker&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }

  // A control command (see kafka_test_broker.cpp); returns the broker's reply line.
  std::string command(const std::string& text) {
    std::fputs((text + "\n").c_str(), commands_);
    std::fflush(commands_);
    return line();
  }
  void create_topic(const std::string& name, int partitions) {
    const std::string reply = command("topic " + name + " " + std::to_string(partitions));
    if (reply != "ok") throw std::runtime_error("create topic " + name + ": " + reply);
  }

 private:
  std::string line() {
    char buffer[4096];
    if (std::fgets(buffer, sizeof(buffer), replies_) == nullptr) return {};
    std::string s(buffer);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }

  pid_t pid_ = -1;
  FILE* commands_ = nullptr;
  FILE* replies_ = nullptr;
  std::string bootstrap_;
};

// Runs a shell command; its standard output.
inline std::string run_command(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Everything committed in `topic` (kcat, read_committed), one line per record's value.
inline std::vector<std::string> kcat_consume(const std::string& bootstrap, const std::string& topic,
                                             const std::string& format = "%s\\n") {
  return lines_of(run_command("kcat -q -C -e -b " + bootstrap + " -t " + topic +
                              " -X isolation.level=read_committed -f '" + format +
                              "' 2>/dev/null"));
}

// Produces `lines` (one record each; "key<TAB>value" with `keyed`) to `topic` with kcat.
inline void kcat_produce(const std::string& bootstrap, const std::string& topic,
                         const std::string& path, bool keyed = false) {
  const std::string command = "kcat -q -P -b " + bootstrap + " -t " + topic +
                              (keyed ? " -K '\t'" : "") + " -l " + path + " 2>&1";
  const std::string out = run_command(command);
  if (!out.empty()) throw std::runtime_error("kcat: " + out);
}

}  // namespace sluice::testing
