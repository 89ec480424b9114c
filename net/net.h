// Umbrella header for the network layer (target raft_net).
//
// What engine/node uses, bottom up:
//   Reactor, Timer, FdPoller  (net/reactor.h)   one io_uring loop per thread
//   ShardSet, Shard           (net/shard.h)     N pinned loops, bounded inboxes
//   OutFrame, FrameDecoder    (net/frame.h)     [len][xxh3][FlatBuffers] frames
//   HandshakeInfo             (net/handshake.h) connection opening
//   FrameConnection           (net/connection.h) one TCP connection of frames
//   Listener                  (net/listener.h)  peers and clients, one port
//   PeerTransport             (net/peer_transport.h) outgoing peer links
//   NetStats                  (net/stats.h)     counters per reactor
//
// Sending Raft messages: build an fbs::Frame holding an fbs::RaftBatch with a
// FlatBufferBuilder, `frame_from_builder(b)`, then `transport.send(peer, f)`.
// Receiving: the Listener's on_peer gives an open FrameConnection; its frame
// handler gets a ReceivedFrame whose `frame` is verified and whose `payload`
// Slice keeps the bytes alive (`slice_of(entry->data())` for zero copy).
#pragma once

#include "net/connection.h"
#include "net/frame.h"
#include "net/handshake.h"
#include "net/listener.h"
#include "net/peer_transport.h"
#include "net/reactor.h"
#include "net/shard.h"
#include "net/socket.h"
#include "net/stats.h"
