// The group driver applying committed entries (the state machine's and the
// conf changes) and making snapshots of its state.
#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/trace.h"
#include "engine/node/errors.h"
#include "engine/node/group.h"
#include "engine/node/group_rules.h"
#include "protocol/records/peer_addresses.h"
#include "protocol/records/snapshot_envelope.h"
#include "spdlog/spdlog.h"

namespace raft {

using namespace group_rules;  // NOLINT(google-build-using-namespace): the driver's own rules.

// ---------------------------------------------------------------------------
// Applying.

void Group::apply_entries(const std::vector<Entry>& entries) {
  if (!halted_.ok()) return;  // Nothing more is applied here (halt()).
  std::vector<ApplyItem> items;
  std::vector<const Entry*> run;
  // Per entry of the run: the (session, sequence) whose result the session
  // table keeps, or (0, 0); and the sessions the run has an entry of.
  std::vector<std::pair<uint64_t, uint64_t>> run_sessions;
  absl::flat_hash_set<uint64_t> sessions_in_run;
  std::vector<std::string> results;
  // False once the state machine refused an entry: the group is halted.
  auto flush = [&] {
    if (run.empty()) return true;
    results.clear();
    const absl::Status applied = fsm_->apply_batch_checked(items, &results);
    RAFT_CHECK(applied.ok() ? results.size() == run.size() : results.size() < run.size());
    gauges_.applied_entries.fetch_add(results.size(), std::memory_order_relaxed);
    for (size_t i = 0; i < results.size(); ++i) {
      if (run_sessions[i].first != 0) {
        sessions_.record(run_sessions[i].first, run_sessions[i].second, results[i]);
      }
      if (proposals_.contains(run[i]->index)) {
        finish_proposal(run[i]->index, run[i]->term,
                        ProposeResult{run[i]->index, run[i]->term, std::move(results[i])});
      }
    }
    if (!applied.ok()) halt(run[results.size()]->index, applied);
    items.clear();
    run.clear();
    run_sessions.clear();
    sessions_in_run.clear();
    return applied.ok();
  };
  for (const Entry& e : entries) {
    if (e.index <= applied_) continue;
    if (e.type == EntryType::kConfChange && !flush()) return;
    applied_ = e.index;
    applied_term_ = e.term;
    if (e.type == EntryType::kConfChange) {
      apply_conf_change_entry(e);  // Its event sees it applied.
    } else if (e.type == EntryType::kSession) {
      absl::StatusOr<protocol::SessionCommand> command =
          protocol::decode_session_command(e.data.view());
      // The table must see an earlier entry of the same session applied
      // (its result recorded) before it judges this one.
      if (command.ok() && sessions_in_run.contains(command->session) && !flush()) return;
      std::optional<std::string_view> payload = apply_session_command(e, command);
      if (payload && e.index <= fsm_ahead_until_) {
        // Applied by the state machine before the restart; its result was
        // not kept, so a duplicate of it is answered with an empty one.
        gauges_.skipped_entries.fetch_add(1, std::memory_order_relaxed);
        sessions_.record(command->session, command->sequence, {});
        finish_proposal(e.index, e.term, ProposeResult{e.index, e.term, {}});
      } else if (payload) {
        items.push_back(ApplyItem{e.index, *payload});
        run.push_back(&e);
        run_sessions.emplace_back(command->session, command->sequence);
        sessions_in_run.insert(command->session);
      }
    } else if (!e.data.empty() && e.index <= fsm_ahead_until_) {
      // The state machine persisted itself past this entry before the
      // restart: it already holds its effects.
      gauges_.skipped_entries.fetch_add(1, std::memory_order_relaxed);
      if (proposals_.contains(e.index)) {
        // Only with a machine whose files are not this log's (a correct
        // one's index is on a quorum, so this node would not lead): its
        // state has another entry here, and this one is not applied.
        finish_proposal(e.index, e.term,
                        failed(absl::FailedPreconditionError(absl::StrCat(
                            "not applied: the state machine already holds index ", e.index,
                            " (its applied_index is beyond this node's log)"))));
      }
    } else if (!e.data.empty()) {
      items.push_back(ApplyItem{e.index, e.data.view()});
      run.push_back(&e);
      run_sessions.emplace_back(0, 0);
    } else if (proposals_.contains(e.index)) {
      // A leader's no-op took the index of a proposal from an older term.
      finish_proposal(e.index, e.term, replaced_error());
    }
    if (events_.starts_leadership(e, raw_->role(), raw_->term())) {
      if (!flush()) return;  // kLeaderStart comes after every earlier entry is applied.
      events_.leader_started(e);
    }
  }
  if (!flush()) return;
  maybe_auto_snapshot();
}

void Group::halt(Index index, const absl::Status& why) {
  // applied_ goes back to the last entry applied (its term is not known
  // here; no snapshot is taken of a halted group, so none needs it).
  applied_ = index - 1;
  halted_ = absl::FailedPreconditionError(
      absl::StrCat("group ", id_, " is halted on this node: the state machine could not apply ",
                   "index ", index, ": ", why.message()));
  gauges_.halted.store(true, std::memory_order_relaxed);
  spdlog::error("{}", std::string(halted_.message()));
  // The waiting proposals are in the log and may be applied by the other
  // replicas: their outcome is unknown. Reads and snapshots cannot be served.
  while (!proposals_.empty()) {
    finish_proposal(proposals_.begin()->first, 0, unknown(halted_));
  }
  std::map<uint64_t, PendingRead> reads = std::move(reads_);
  reads_.clear();
  for (auto& [id, r] : reads) r.done(failed(halted_));
  std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
  snapshot_waiters_.clear();
  for (auto& w : waiters) w(failed(halted_));
}

// The one place removed_ changes: set when this node leaves the membership,
// cleared when a membership (a conf change or an installed snapshot) has it
// again. Before the flag was cleared here, a node removed and then added
// back refused every proposal as removed, even as leader (the simulator
// found both ways back).
void Group::note_membership(bool was_member, const ConfState& cs, Index at) {
  const bool member = is_member(cs, self_);
  if (was_member && !member) {
    removed_ = true;
    spdlog::info("group {}: node {} was removed from the group at index {}", id_, self_, at);
  } else if (removed_ && member) {
    removed_ = false;
    spdlog::info("group {}: node {} is a member again from index {}", id_, self_, at);
  }
}

void Group::apply_conf_change_entry(const Entry& e) {
  absl::StatusOr<ConfChange> cc = decode_conf_change(e.data.view());
  if (!cc.ok()) {
    // Every replica decodes the same bytes and skips it alike.
    spdlog::error("group {}: undecodable conf change at index {}: {}", id_, e.index,
                  cc.status().ToString());
    finish_proposal(e.index, e.term, failed(cc.status()));
    return;
  }
  absl::StatusOr<PeerAddresses> added = protocol::decode_peer_addresses(cc->context);
  if (added.ok()) {
    for (const auto& [node, address] : *added) {
      peers_[node] = address;
      outbox_.peer_address(node, address);
    }
  }
  const bool was_member = is_member(raw_->conf_state(), self_);
  ConfState cs = raw_->apply_conf_change(*cc);
  for (const ConfChangeSingle& ch : cc->changes) max_id_seen_ = std::max(max_id_seen_, ch.node);
  for (auto it = peers_.begin(); it != peers_.end();) {
    it = is_member(cs, it->first) ? std::next(it) : peers_.erase(it);
  }
  note_membership(was_member, cs, e.index);
  events_.membership_applied(e.index, e.term, cs);
  auto it = proposals_.find(e.index);
  if (it != proposals_.end() && it->second.term == e.term && it->second.conf_done) {
    ConfCallback cb = std::move(it->second.conf_done);
    proposals_.erase(it);
    cb(cs);
  } else if (it != proposals_.end()) {
    finish_proposal(e.index, e.term, replaced_error());
  }
}

// ---------------------------------------------------------------------------
// Snapshots.

void Group::maybe_auto_snapshot() {
  if (config_.snapshot_every_entries == 0 || snapshot_in_progress_) return;
  if (applied_ < last_snapshot_index_ + config_.snapshot_every_entries) return;
  start_snapshot(nullptr);
}

void Group::start_snapshot(IndexCallback done) {
  if (!halted_.ok()) {
    if (done) done(failed(halted_));
    return;
  }
  if (done) snapshot_waiters_.push_back(std::move(done));
  if (snapshot_in_progress_) return;
  if (applied_ == 0 || applied_ == last_snapshot_index_) {
    std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
    snapshot_waiters_.clear();
    for (auto& w : waiters) {
      if (applied_ == 0) {
        w(refused(absl::FailedPreconditionError("nothing applied yet")));
      } else {
        w(last_snapshot_index_);
      }
    }
    return;
  }
  if (applied_ < fsm_ahead_until_) {
    // The machine's own state is ahead of what the log has delivered again
    // (a self-persisting machine after a restart, before the commit index
    // is learnt back): a view now would hold more than index applied_.
    std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
    snapshot_waiters_.clear();
    for (auto& w : waiters) {
      w(refused(absl::UnavailableError(absl::StrCat(
          "the state machine is at index ", fsm_ahead_until_, ", the log has delivered ", applied_,
          " since the restart; try again once it caught up"))));
    }
    return;
  }
  const Index index = applied_;
  const Term term = applied_term_;
  const ConfState cs = raw_->conf_state();
  // Step one, here on the shard thread: a point-in-time view (cheap for a
  // machine that overrides snapshot_view). Step two, the bytes, is written
  // from the view off the shard thread by the snapshot store.
  absl::StatusOr<std::unique_ptr<SnapshotView>> view = fsm_->snapshot_view();
  if (!view.ok() || *view == nullptr) {
    const absl::Status status =
        !view.ok() ? view.status() : absl::InternalError("snapshot_view() returned no view");
    std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
    snapshot_waiters_.clear();
    spdlog::error("group {}: snapshot at {} failed: {}", id_, index, status.ToString());
    for (auto& w : waiters) w(status);
    return;
  }
  snapshot_in_progress_ = true;
  // The file is written and fsynced off the shard thread; the snapshot
  // record (and the compaction it allows) goes into a later batch.
  snapshots_.write(
      id_, index, term, protocol::encode_snapshot_header(peers_, max_id_seen_, sessions_.encode()),
      std::move(*view), [this, index, term, cs](absl::StatusOr<SnapshotFileSummary> written) {
        snapshot_in_progress_ = false;
        std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
        snapshot_waiters_.clear();
        if (!written.ok()) {
          spdlog::error("group {}: snapshot at {} failed: {}", id_, index,
                        written.status().ToString());
          for (auto& w : waiters) w(written.status());
          return;
        }
        const uint64_t bytes = written->bytes;
        const uint64_t checksum = written->checksum;
        if (index <= last_snapshot_index_) {
          // A newer snapshot from the leader was installed while this one
          // was written: recording this one would go back (storage refuses
          // that, and the batch would fail for good).
          SPDLOG_INFO("group {}: snapshot at index {} superseded by the one at {}", id_, index,
                      last_snapshot_index_);
          if (index < last_snapshot_index_) {
            snapshots_.discard(id_, StoredSnapshot{SnapshotMeta{index, term, cs}, bytes, checksum});
          }
          for (auto& w : waiters) w(last_snapshot_index_);
          return;
        }
        const Index keep = config_.keep_entries_after_snapshot;
        const Index first = log_->first_index();
        writer_.save_snapshot(id_, StoredSnapshot{SnapshotMeta{index, term, cs}, bytes, checksum},
                              index > keep && index - keep >= first ? index - keep : 0);
        last_snapshot_index_ = index;
        events_.snapshot_taken(index, term);
        SPDLOG_INFO("group {}: snapshot at index {} ({} bytes)", id_, index, bytes);
        for (auto& w : waiters) w(index);
      });
}

}  // namespace raft
