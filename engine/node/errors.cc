#include "engine/node/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace raft {
namespace {
constexpr char kNotLeaderUrl[] = "type.ringraft/not_leader";
}  // namespace

absl::Status not_leader_error(uint64_t leader_id, const std::string& address) {
  if (leader_id == 0) return absl::UnavailableError("no leader");
  absl::Status s = absl::FailedPreconditionError(
      absl::StrCat("not leader; leader is ", leader_id, address.empty() ? "" : " at ", address));
  s.SetPayload(kNotLeaderUrl, absl::Cord(absl::StrCat(leader_id, "|", address)));
  return s;
}

std::optional<LeaderHint> not_leader_hint(const absl::Status& status) {
  auto payload = status.GetPayload(kNotLeaderUrl);
  if (!payload) return std::nullopt;
  std::string text(*payload);
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('|', 1));
  LeaderHint hint;
  if (!absl::SimpleAtoi(parts.first, &hint.leader_id)) return std::nullopt;
  hint.address = parts.second;
  return hint;
}

bool is_not_leader(const absl::Status& status) { return not_leader_hint(status).has_value(); }

}  // namespace raft
