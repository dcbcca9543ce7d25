// The logical job graph the DataStream API builds: nodes (an operator or a source, with its
// parallelism) and edges (with a partitioning). The runtime expands it into parallel subtasks,
// chaining forward-connected nodes of equal parallelism into one task (see docs/ARCHITECTURE.md).
//
// Everything typed (the record type, key selectors, user functions) is captured in factories here,
// so the runtime itself is not a template.
//
// Threading: built by one thread before execution; read-only afterwards.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sluice/runtime/buffer_codec.h"
#include "sluice/runtime/operator.h"
#include "sluice/runtime/record_writer.h"
#include "sluice/runtime/source.h"

namespace sluice {

using OperatorFactory = std::function<std::unique_ptr<Operator>()>;

struct WriterSpec {
  Partitioning partitioning;             // resolved: never kDefault
  std::vector<ChannelWriter*> channels;  // indexed by target subtask (one for forward)
  int producer_subtask;
  int max_parallelism;
  size_t buffer_bytes;
};
using WriterFactory = std::function<std::unique_ptr<NetworkOutput>(const WriterSpec&)>;

struct StreamNode {
  int id = 0;
  std::string name;
  std::string uid;
  int parallelism = 0;  // 0: the environment's default
  bool chaining = true;
  OperatorFactory make_operator;          // null for sources
  std::shared_ptr<SourceFactory> source;  // set for sources
};

struct StreamEdge {
  int source = 0;
  int source_tag = 0;  // 0: the main output; else a side-output tag id
  int target = 0;
  int target_input = 0;
  Partitioning partitioning = Partitioning::kDefault;
  WriterFactory make_writer;
  std::shared_ptr<const BufferCodec> codec;  // null: the record type has no Serializer
  std::string record_type;                   // for the execution plan
  std::string side_output;                   // the side output's tag name when source_tag != 0
};

struct StreamGraph {
  std::vector<StreamNode> nodes;
  std::vector<StreamEdge> edges;

  StreamNode& node(int id) { return nodes.at(static_cast<size_t>(id)); }
  const StreamNode& node(int id) const { return nodes.at(static_cast<size_t>(id)); }
};

// A writer factory for streams of T with a partitioning that needs no key.
template <class T>
WriterFactory writer_factory() {
  return [](const WriterSpec& spec) -> std::unique_ptr<NetworkOutput> {
    switch (spec.partitioning) {
      case Partitioning::kRebalance:
        return std::make_unique<RebalanceWriter<T>>(spec.channels, spec.buffer_bytes,
                                                    spec.producer_subtask);
      case Partitioning::kBroadcast:
        return std::make_unique<BroadcastWriter<T>>(spec.channels, spec.buffer_bytes);
      default:
        return std::make_unique<ForwardWriter<T>>(spec.channels, spec.buffer_bytes);
    }
  };
}

template <class T, class KeySelector>
WriterFactory hash_writer_factory(KeySelector selector) {
  return [selector](const WriterSpec& spec) -> std::unique_ptr<NetworkOutput> {
    if (spec.channels.size() == 1) {
      return std::make_unique<ForwardWriter<T>>(spec.channels, spec.buffer_bytes);
    }
    return std::make_unique<HashWriter<T, KeySelector>>(spec.channels, spec.buffer_bytes,
                                                        spec.max_parallelism, selector);
  };
}

}  // namespace sluice
