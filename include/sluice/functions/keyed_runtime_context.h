// KeyedRuntimeContext: what a keyed function's open() receives, the runtime context plus the keyed
// state of its operator instance; and the backend an operator instance's keyed state lives in, as
// the job configures it (heap or RocksDB; see sluice/state/state_backend_options.h).
//
// Threading: one operator instance, one task thread.
#pragma once

#include <memory>
#include <string>

#include "sluice/runtime/operator.h"
#include "sluice/state/keyed_state_backend.h"

namespace sluice {

// What a keyed function's open() receives: the runtime context plus keyed state.
template <class K>
class KeyedRuntimeContext : public RuntimeContext, public KeyedStateStore<K> {
 public:
  KeyedRuntimeContext(const OperatorContext& context, KeyedStateBackend<K>& backend)
      : RuntimeContext(context), KeyedStateStore<K>(backend) {}
};

namespace detail {

// The keyed state backend of an operator instance, as the job configures it; `part` tells an
// operator's backends apart.
template <class K>
std::unique_ptr<KeyedStateBackend<K>> make_operator_backend(const OperatorContext& c,
                                                            const std::string& part) {
  KeyedBackendSetup setup{c.state_backend,
                          "node" + std::to_string(c.node_id) + "-subtask" +
                              std::to_string(c.subtask_index) + "-" + part,
                          c.restored_shared_directory};
  return make_keyed_state_backend<K>(c.key_group_range, c.max_parallelism, setup);
}

}  // namespace detail
}  // namespace sluice
