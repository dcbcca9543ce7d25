// The one error type of Sluice. Every failure a user can see is a sluice::Error (or derived)
// carrying a category and the context it happened in: operator, subtask, file and line, record.
// Normal outcomes (end of input, not found) are return values, never exceptions.
//
// Threading: immutable after construction; safe to copy and read from any thread.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sluice {

enum class ErrorCategory {
  kInvalidArgument,  // a bad flag, option or API argument
  kInvalidJob,       // a job graph that cannot run (e.g. forward between different parallelisms)
  kUserFunction,     // a user function threw
  kIo,               // a file or network operation failed
  kBadInput,         // malformed input data
  kSerialization,    // bytes that do not decode
  kCancelled,        // the job was cancelled
  kInternal,         // a bug in Sluice
};

const char* to_string(ErrorCategory category);

// Where an error happened. Every field is optional; what() prints only the ones that are set.
struct ErrorContext {
  std::string operator_name;
  int subtask = -1;
  int parallelism = -1;
  std::string file;
  int64_t line = -1;
  std::string record;  // a short rendering of the offending record, when there is one
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCategory category, const std::string& message, ErrorContext context = {});

  ErrorCategory category() const { return category_; }
  const std::string& message() const { return message_; }
  const ErrorContext& context() const { return context_; }

 private:
  ErrorCategory category_;
  std::string message_;
  ErrorContext context_;
};

// Throws the kInvalidJob error of a job that cannot be checkpointed because of `what`.
[[noreturn]] void throw_not_checkpointable(const std::string& what);

}  // namespace sluice
