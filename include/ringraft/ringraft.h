// ringraft: the one header an embedder includes. It gives
//   raft::Node, StateMachineFactory, MemberInfo   (engine/node/node.h)
//   raft::StateMachine, SnapshotWriter/Reader     (engine/node/state_machine.h)
//   raft::Event, EventKind (StateMachine::on_event) (engine/node/events.h)
//   raft::NodeConfig, load_config_toml            (engine/node/config.h)
//   raft::AsyncClient, ClientOptions, CallOptions (engine/node/async_client.h)
//   raft::Client (blocking)                       (engine/node/client.h)
//   raft::LeaderHint, Outcome, not_leader_hint... (engine/node/errors.h)
//   raft::ProposeResult, MemberChange, callbacks  (engine/node/api_types.h)
//   raft::PeerAddresses                           (engine/node/peer_table.h)
//   raft::NodeId, GroupId, Index, ConfState, ...  (engine/core/types.h)
//   raft::Slice                                   (common/slice.h)
// These headers need only the standard library and Abseil. Link
// ringraft::ringraft (find_package(ringraft), or pkg-config ringraft) when
// installed, raft_node in this tree. The list is include/public_headers.txt;
// no other project header is public. Installed, they live under
// <prefix>/include/ringraft/ and include each other as "ringraft/<path>".
#pragma once

#include "common/slice.h"
#include "engine/core/types.h"
#include "engine/node/api_types.h"
#include "engine/node/async_client.h"
#include "engine/node/client.h"
#include "engine/node/config.h"
#include "engine/node/errors.h"
#include "engine/node/events.h"
#include "engine/node/node.h"
#include "engine/node/peer_table.h"
#include "engine/node/state_machine.h"
