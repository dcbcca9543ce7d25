#include <xxhash.h>

#include "sluice/core/key_groups.h"

namespace sluice {

uint64_t hash_bytes(const void* data, size_t size) { return XXH3_64bits(data, size); }

StreamingHash::StreamingHash() : state_(XXH3_createState()) {
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}
StreamingHash::~StreamingHash() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void StreamingHash::update(const void* data, size_t size) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}
uint64_t StreamingHash::digest() const {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_));
}

}  // namespace sluice
