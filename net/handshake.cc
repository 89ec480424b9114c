#include "net/handshake.h"

#include "absl/strings/str_cat.h"

namespace raft::net {

OutFrame encode_handshake(const HandshakeInfo& info) {
  flatbuffers::FlatBufferBuilder b(128);
  auto hs = fbs::CreateHandshake(b, info.protocol_version, info.cluster_id, info.node_id,
                                 info.shard, info.target_shard,
                                 static_cast<fbs::ConnectionRole>(info.role), info.shard_count);
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::Handshake, hs.Union()));
  return frame_from_builder(b);
}

OutFrame encode_handshake_reject(std::string_view reason) {
  flatbuffers::FlatBufferBuilder b(128 + reason.size());
  auto r = fbs::CreateHandshakeReject(b, b.CreateString(reason.data(), reason.size()));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::HandshakeReject, r.Union()));
  return frame_from_builder(b);
}

HandshakeInfo decode_handshake(const fbs::Handshake& hs) {
  HandshakeInfo info;
  info.protocol_version = hs.protocol_version();
  info.cluster_id = hs.cluster_id();
  info.node_id = hs.node_id();
  info.shard = hs.shard();
  info.target_shard = hs.target_shard();
  info.role =
      hs.role() == fbs::ConnectionRole::Client ? ConnectionRole::kClient : ConnectionRole::kPeer;
  info.shard_count = hs.shard_count();
  return info;
}

absl::Status check_incoming_handshake(const HandshakeInfo& local, uint32_t shard_count,
                                      const HandshakeInfo& remote) {
  if (remote.protocol_version != local.protocol_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("protocol version ", remote.protocol_version, " != ", local.protocol_version));
  }
  // A client may leave the cluster id at 0 when it does not know it yet.
  bool any_cluster = remote.role == ConnectionRole::kClient && remote.cluster_id == 0;
  if (!any_cluster && remote.cluster_id != local.cluster_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster id ", remote.cluster_id, " != ", local.cluster_id));
  }
  if (remote.target_shard >= shard_count) {
    return absl::FailedPreconditionError(
        absl::StrCat("target shard ", remote.target_shard, " >= shard count ", shard_count));
  }
  if (remote.role == ConnectionRole::kPeer &&
      (remote.node_id == 0 || remote.node_id == local.node_id)) {
    return absl::FailedPreconditionError(absl::StrCat("bad peer node id ", remote.node_id));
  }
  return absl::OkStatus();
}

absl::Status check_reply_handshake(const HandshakeInfo& local, uint64_t expected_node_id,
                                   const HandshakeInfo& remote) {
  if (remote.protocol_version != local.protocol_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("protocol version ", remote.protocol_version, " != ", local.protocol_version));
  }
  if (local.cluster_id != 0 && remote.cluster_id != local.cluster_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster id ", remote.cluster_id, " != ", local.cluster_id));
  }
  if (expected_node_id != 0 && remote.node_id != expected_node_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("reached node ", remote.node_id, ", expected ", expected_node_id));
  }
  return absl::OkStatus();
}

}  // namespace raft::net
