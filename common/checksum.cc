#include "common/checksum.h"

#include <xxhash.h>

#include "common/check.h"

namespace raft {

uint64_t checksum64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

Checksum64::Checksum64() : state_(XXH3_createState()) {
  RAFT_CHECK_MSG(state_ != nullptr, "XXH3_createState: out of memory");
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}

Checksum64::~Checksum64() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Checksum64::update(std::string_view bytes) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), bytes.data(), bytes.size());
}

uint64_t Checksum64::digest() const {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_));
}

}  // namespace raft
