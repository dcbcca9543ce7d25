// OutputTag: names a typed side output (Flink's OutputTag). A function writes to it through its
// context's output(tag, value); the stream reads it with get_side_output(tag).
//
//   const sluice::OutputTag<Txn> late{"late-transactions"};
//
// Threading: tags are plain values; interning their names is thread-safe.
#pragma once

#include <string>
#include <utility>

namespace sluice {

// Interns a side-output tag name into a small integer (stable for the process's lifetime).
int intern_output_tag(const std::string& name);

template <class T>
class OutputTag {
 public:
  using value_type = T;
  explicit OutputTag(std::string id) : id_(std::move(id)), tag_(intern_output_tag(id_)) {}
  const std::string& id() const { return id_; }
  int tag() const { return tag_; }

 private:
  std::string id_;
  int tag_;
};

}  // namespace sluice
