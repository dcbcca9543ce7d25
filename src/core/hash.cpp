#include <xxhash.h>

#include "sluice/core/key_groups.h"

namespace sluice {

uint64_t hash_bytes(const void* data, size_t size) { return XXH3_64bits(data, size); }

}  // namespace sluice
