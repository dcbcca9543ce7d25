#include "sluice/core/error.h"

#include <fmt/format.h>

#include "sluice/core/serialization.h"

namespace sluice {

const char* to_string(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kInvalidArgument:
      return "invalid argument";
    case ErrorCategory::kInvalidJob:
      return "invalid job";
    case ErrorCategory::kUserFunction:
      return "user function failed";
    case ErrorCategory::kIo:
      return "I/O error";
    case ErrorCategory::kBadInput:
      return "bad input";
    case ErrorCategory::kSerialization:
      return "serialization error";
    case ErrorCategory::kCancelled:
      return "cancelled";
    case ErrorCategory::kInternal:
      return "internal error";
  }
  return "error";
}

namespace {

std::string render(ErrorCategory category, const std::string& message, const ErrorContext& c) {
  std::string text = fmt::format("{}: {}", to_string(category), message);
  if (!c.operator_name.empty()) {
    text += fmt::format(" [operator '{}'", c.operator_name);
    if (c.subtask >= 0) {
      text += c.parallelism > 0 ? fmt::format(", subtask {}/{}", c.subtask, c.parallelism)
                                : fmt::format(", subtask {}", c.subtask);
    }
    text += "]";
  }
  if (!c.file.empty()) {
    text += c.line >= 0 ? fmt::format(" [{}:{}]", c.file, c.line) : fmt::format(" [{}]", c.file);
  }
  if (!c.record.empty()) text += fmt::format(" [record: {}]", c.record);
  return text;
}

}  // namespace

Error::Error(ErrorCategory category, const std::string& message, ErrorContext context)
    : std::runtime_error(render(category, message, context)),
      category_(category),
      message_(message),
      context_(std::move(context)) {}

void BufferReader::throw_truncated(size_t wanted) const {
  throw Error(ErrorCategory::kSerialization,
              fmt::format("truncated input: needed {} more bytes, {} left", wanted,
                          static_cast<size_t>(end_ - pos_)));
}

void throw_not_checkpointable(const std::string& what) {
  throw Error(ErrorCategory::kInvalidJob,
              fmt::format("the job cannot be checkpointed: {} (turn checkpoints off, or implement "
                          "it; see docs/SEMANTICS.md)",
                          what));
}

}  // namespace sluice
