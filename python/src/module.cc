// _ringraft: the pybind11 extension under the `ringraft` Python package
// (python/ringraft/). It wraps raft::Node and raft::AsyncClient, and adapts a
// Python state machine object to raft::StateMachine.
//
// Threads and the GIL: every call into C++ that may block (start, stop, the
// blocking requests) releases the GIL. Shard threads (and the client's IO
// thread) take the GIL only to call Python: the state machine's methods
// (one acquisition per applied batch) and the completion callbacks the
// asynchronous calls were given. Every Python object held by C++ code that
// may be destroyed on one of those threads is a PyRef, which takes the GIL
// to drop its reference.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/node/async_client.h"
#include "engine/node/config.h"
#include "engine/node/errors.h"
#include "engine/node/node.h"
#include "engine/node/state_machine.h"

namespace py = pybind11;

namespace raft::python {
namespace {

// A strong reference to a Python object that may be released on any thread.
class PyRef {
 public:
  PyRef() = default;
  explicit PyRef(py::object o) : obj_(o.release().ptr()) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  PyRef(PyRef&& o) noexcept : obj_(std::exchange(o.obj_, nullptr)) {}
  PyRef& operator=(PyRef&& o) noexcept {
    if (this != &o) {
      reset();
      obj_ = std::exchange(o.obj_, nullptr);
    }
    return *this;
  }
  ~PyRef() { reset(); }
  void reset() {
    if (obj_ == nullptr) return;
    if (!Py_IsInitialized()) {  // The interpreter is gone: leak it.
      obj_ = nullptr;
      return;
    }
    py::gil_scoped_acquire gil;
    Py_DECREF(obj_);
    obj_ = nullptr;
  }
  // GIL held.
  py::handle get() const { return py::handle(obj_); }

 private:
  PyObject* obj_ = nullptr;
};

// (code, message, outcome, leader_id, leader_address) of an error, or None.
py::object status_tuple(const absl::Status& s) {
  if (s.ok()) return py::none();
  uint64_t leader_id = 0;
  std::string leader_address;
  if (std::optional<LeaderHint> hint = not_leader_hint(s)) {
    leader_id = hint->leader_id;
    leader_address = hint->address;
  }
  return py::make_tuple(absl::StatusCodeToString(s.code()), std::string(s.message()),
                        outcome_name(outcome_of(s)), leader_id, leader_address);
}

py::dict conf_state_dict(const ConfState& cs) {
  py::dict d;
  d["voters"] = cs.voters;
  d["learners"] = cs.learners;
  d["voters_outgoing"] = cs.voters_outgoing;
  d["learners_next"] = cs.learners_next;
  return d;
}

py::object to_py(const ProposeResult& r) {
  return py::make_tuple(r.index, r.term, py::bytes(r.result));
}
py::object to_py(const std::string& s) { return py::bytes(s); }
py::object to_py(const ConfState& cs) { return conf_state_dict(cs); }
py::object to_py(const uint64_t& i) { return py::int_(i); }
py::object to_py(const LeaderHint& h) { return py::make_tuple(h.leader_id, h.address); }
py::object to_py(const bool&) { return py::none(); }  // A plain Status: nothing to return.

// Completions on their way into one asyncio event loop, which watches
// fileno() (loop.add_reader) and calls drain(). The thread completing a
// request (a shard's, the client's IO thread) only appends here, without
// the GIL, and writes the eventfd when the queue was empty: a burst of
// completions costs one wake-up and no GIL hand-off on the shard thread.
class CompletionQueue {
 public:
  CompletionQueue() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  ~CompletionQueue() { ::close(fd_); }
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;
  int fileno() const { return fd_; }
  // Any thread, without the GIL.
  void push(absl::AnyInvocable<void()> item) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake = items_.empty();
      items_.push_back(std::move(item));
    }
    if (wake) {
      const uint64_t one = 1;
      (void)!::write(fd_, &one, sizeof(one));
    }
  }
  // The loop's thread, with the GIL: runs every queued completion.
  size_t drain() {
    uint64_t n = 0;
    (void)!::read(fd_, &n, sizeof(n));
    std::vector<absl::AnyInvocable<void()>> items;
    {
      std::lock_guard<std::mutex> lock(mu_);
      items.swap(items_);
    }
    for (auto& item : items) item();
    return items.size();
  }

 private:
  int fd_;
  std::mutex mu_;
  std::vector<absl::AnyInvocable<void()>> items_;
};

// A completion callback: done(error_tuple_or_None, value). With a queue it
// is queued there and called by the loop's drain(); without one it is
// called with the GIL on whichever thread completes the request.
class Completion {
 public:
  Completion(py::object fn, std::shared_ptr<CompletionQueue> queue)
      : fn_(std::move(fn)), queue_(std::move(queue)) {}
  template <typename T>
  void operator()(absl::StatusOr<T> r) {
    if (queue_ != nullptr) {
      std::shared_ptr<CompletionQueue> q = std::move(queue_);
      q->push([fn = std::move(fn_), r = std::move(r)]() mutable { deliver(fn, r); });
      return;
    }
    py::gil_scoped_acquire gil;
    deliver(fn_, r);
  }
  void operator()(absl::Status s) {
    if (s.ok()) return (*this)(absl::StatusOr<bool>(true));
    (*this)(absl::StatusOr<bool>(std::move(s)));
  }

 private:
  // The GIL held.
  template <typename T>
  static void deliver(PyRef& fn, absl::StatusOr<T>& r) {
    try {
      py::object err = r.ok() ? py::none() : status_tuple(r.status());
      py::object value = r.ok() ? to_py(*r) : py::none();
      fn.get()(err, value);
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("ringraft completion callback");
    }
    fn.reset();
  }
  PyRef fn_;
  std::shared_ptr<CompletionQueue> queue_;
};

// Python exception text: "TypeName: message".
std::string describe(py::error_already_set& e) {
  std::string type = py::str(e.type().attr("__name__"));
  return absl::StrCat(type, ": ", std::string(py::str(e.value())));
}

void log_traceback(py::error_already_set& e, const std::string& context) {
  try {
    py::module_ logging = py::module_::import("logging");
    py::object log = logging.attr("getLogger")("ringraft");
    py::object tb =
        py::module_::import("traceback").attr("format_exception")(e.type(), e.value(), e.trace());
    log.attr("error")("%s\n%s", context, py::str("").attr("join")(tb));
  } catch (py::error_already_set& inner) {
    inner.discard_as_unraisable("ringraft logging");
  }
}

// Bytes of a bytes / bytearray / memoryview result, or an error naming what
// was returned instead.
absl::StatusOr<std::string> bytes_of(py::handle v, const std::string& what) {
  if (PyBytes_Check(v.ptr())) {
    return std::string(PyBytes_AS_STRING(v.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(v.ptr())));
  }
  if (PyByteArray_Check(v.ptr())) {
    return std::string(PyByteArray_AS_STRING(v.ptr()),
                       static_cast<size_t>(PyByteArray_GET_SIZE(v.ptr())));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, " returned ", std::string(py::str(py::type::of(v).attr("__name__"))), ", not bytes"));
}

// The SnapshotWriter / SnapshotReader handed to Python during snapshot() /
// restore(); valid only during that call.
class PyWriter {
 public:
  explicit PyWriter(SnapshotWriter* w) : w_(w) {}
  void write(py::bytes data) {
    if (w_ == nullptr) throw std::runtime_error("the snapshot writer is closed");
    std::string_view v = data;
    absl::Status s;
    {
      py::gil_scoped_release nogil;  // The writer may write a file.
      s = w_->write(v);
    }
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  void close() { w_ = nullptr; }

 private:
  SnapshotWriter* w_;
};

class PyReader {
 public:
  explicit PyReader(SnapshotReader* r) : r_(r) {}
  py::bytes read(size_t n) {
    if (r_ == nullptr) throw std::runtime_error("the snapshot reader is closed");
    std::string buf(n, '\0');
    absl::StatusOr<size_t> got;
    {
      py::gil_scoped_release nogil;
      got = r_->read(std::span<char>(buf.data(), buf.size()));
    }
    if (!got.ok()) throw std::runtime_error(got.status().ToString());
    buf.resize(*got);
    return py::bytes(buf);
  }
  uint64_t index() const { return r_ == nullptr ? 0 : r_->snapshot_index(); }
  void close() { r_ = nullptr; }

 private:
  SnapshotReader* r_;
};

// Where a Python state machine's apply time goes, summed over every
// machine in the process (apply_stats()): batches and entries applied,
// time waiting for the GIL, and time in Python (conversions included).
struct ApplyStats {
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> entries{0};
  std::atomic<uint64_t> gil_wait_ns{0};
  std::atomic<uint64_t> python_ns{0};
};
ApplyStats g_apply_stats;

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// The C++ twin of the tests' and benchmark's Python KvMachine: b"key=value"
// puts, apply returns the previous value; query(key) the value. For
// comparisons (NativeKvMachine in Python).
class NativeKv : public StateMachine {
 public:
  std::string apply(uint64_t, std::string_view data) override {
    const size_t eq = data.find('=');
    std::string key(data.substr(0, eq));
    std::string value(eq == std::string_view::npos ? std::string_view() : data.substr(eq + 1));
    std::string& slot = map_[key];
    std::string previous = std::move(slot);
    slot = std::move(value);
    return previous;
  }
  absl::StatusOr<std::string> query(std::string_view key) const override {
    auto it = map_.find(std::string(key));
    if (it == map_.end()) return failed(absl::NotFoundError("no such key"));
    return it->second;
  }
  absl::Status snapshot(SnapshotWriter& writer) override {
    std::string out;
    for (const auto& [k, v] : map_) absl::StrAppend(&out, k.size(), ":", k, v.size(), ":", v);
    return writer.write(out);
  }
  absl::Status restore(SnapshotReader& reader) override {
    std::string all;
    char buf[1 << 16];
    for (;;) {
      absl::StatusOr<size_t> n = reader.read(std::span<char>(buf, sizeof(buf)));
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      all.append(buf, *n);
    }
    map_.clear();
    size_t pos = 0;
    auto field = [&](std::string* out) {
      const size_t colon = all.find(':', pos);
      if (colon == std::string::npos) return false;
      const size_t n = std::stoul(all.substr(pos, colon - pos));
      *out = all.substr(colon + 1, n);
      pos = colon + 1 + n;
      return true;
    };
    std::string k, v;
    while (pos < all.size() && field(&k) && field(&v)) map_[k] = v;
    return absl::OkStatus();
  }

 private:
  std::unordered_map<std::string, std::string> map_;
};

// Marker type: a factory returning NativeKvMachine() gets a NativeKv.
struct NativeKvMarker {};

// raft::StateMachine over a Python object (ringraft.StateMachine or any
// object with the same methods).
class PyStateMachine : public StateMachine {
 public:
  PyStateMachine(py::object obj, uint64_t group)
      : obj_(std::move(obj)), group_(group), custom_batch_(overrides("apply_batch")) {}

  std::string apply(uint64_t index, std::string_view data) override {
    std::vector<std::string> results;
    ApplyItem item{index, data};
    (void)apply_batch_checked(std::span<const ApplyItem>(&item, 1), &results);
    return results.empty() ? std::string() : std::move(results[0]);
  }

  absl::Status apply_batch_checked(std::span<const ApplyItem> items,
                                   std::vector<std::string>* results) override {
    const uint64_t t0 = now_ns();
    py::gil_scoped_acquire gil;
    const uint64_t t1 = now_ns();
    struct Account {
      uint64_t t0, t1;
      size_t n;
      ~Account() {
        g_apply_stats.batches.fetch_add(1, std::memory_order_relaxed);
        g_apply_stats.entries.fetch_add(n, std::memory_order_relaxed);
        g_apply_stats.gil_wait_ns.fetch_add(t1 - t0, std::memory_order_relaxed);
        g_apply_stats.python_ns.fetch_add(now_ns() - t1, std::memory_order_relaxed);
      }
    } account{t0, t1, items.size()};
    return apply_locked(items, results);
  }

 private:
  // The GIL held.
  absl::Status apply_locked(std::span<const ApplyItem> items, std::vector<std::string>* results) {
    py::handle obj = obj_.get();
    if (custom_batch_) {
      // All or nothing: apply_batch either answers every item or raises
      // (then the group halts at the first item).
      try {
        py::list batch(items.size());
        for (size_t i = 0; i < items.size(); ++i) {
          batch[i] =
              py::make_tuple(items[i].index, py::bytes(items[i].data.data(), items[i].data.size()));
        }
        py::object out = obj.attr("apply_batch")(batch);
        if (!PyList_Check(out.ptr()) && !PyTuple_Check(out.ptr())) {
          return absl::InvalidArgumentError(absl::StrCat(
              "apply_batch returned ", std::string(py::str(py::type::of(out).attr("__name__"))),
              ", not a list of bytes (from index ", items[0].index, ")"));
        }
        py::sequence seq = py::reinterpret_borrow<py::sequence>(out);
        if (py::len(seq) != items.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("apply_batch returned ", py::len(seq), " results for ", items.size(),
                           " entries (from index ", items[0].index, ")"));
        }
        std::vector<std::string> tmp;
        tmp.reserve(items.size());
        for (size_t i = 0; i < items.size(); ++i) {
          py::object v = seq[i];
          absl::StatusOr<std::string> b =
              bytes_of(v, absl::StrCat("apply_batch (for index ", items[i].index, ")"));
          if (!b.ok()) return b.status();
          tmp.push_back(std::move(*b));
        }
        *results = std::move(tmp);
        return absl::OkStatus();
      } catch (py::error_already_set& e) {
        log_traceback(e, absl::StrCat("group ", group_, ": apply_batch raised"));
        return absl::InternalError(absl::StrCat("apply_batch raised ", describe(e)));
      }
    }
    py::object apply = obj.attr("apply");
    for (const ApplyItem& item : items) {
      try {
        py::object v = apply(item.index, py::bytes(item.data.data(), item.data.size()));
        absl::StatusOr<std::string> b = bytes_of(v, "apply");
        if (!b.ok()) return b.status();
        results->push_back(std::move(*b));
      } catch (py::error_already_set& e) {
        log_traceback(e, absl::StrCat("group ", group_, ": apply(", item.index, ") raised"));
        return absl::InternalError(absl::StrCat("apply raised ", describe(e)));
      }
    }
    return absl::OkStatus();
  }

 public:
  absl::StatusOr<std::string> query(std::string_view request) const override {
    py::gil_scoped_acquire gil;
    try {
      py::object v = obj_.get().attr("query")(py::bytes(request.data(), request.size()));
      return bytes_of(v, "query");
    } catch (py::error_already_set& e) {
      if (e.matches(PyExc_NotImplementedError)) {
        return absl::UnimplementedError("this state machine does not answer queries");
      }
      if (e.matches(PyExc_KeyError)) return failed(absl::NotFoundError(describe(e)));
      return failed(absl::InvalidArgumentError(absl::StrCat("query raised ", describe(e))));
    }
  }

  absl::Status snapshot(SnapshotWriter& writer) override {
    py::gil_scoped_acquire gil;
    auto w = std::make_shared<PyWriter>(&writer);
    absl::Status result;
    try {
      obj_.get().attr("snapshot")(py::cast(w));
    } catch (py::error_already_set& e) {
      log_traceback(e, absl::StrCat("group ", group_, ": snapshot raised"));
      result = absl::InternalError(absl::StrCat("snapshot raised ", describe(e)));
    }
    w->close();
    return result;
  }

  absl::Status restore(SnapshotReader& reader) override {
    py::gil_scoped_acquire gil;
    auto r = std::make_shared<PyReader>(&reader);
    absl::Status result;
    try {
      obj_.get().attr("restore")(py::cast(r));
    } catch (py::error_already_set& e) {
      log_traceback(e, absl::StrCat("group ", group_, ": restore raised"));
      result = absl::InternalError(absl::StrCat("restore raised ", describe(e)));
    }
    r->close();
    return result;
  }

 private:
  bool overrides(const char* name) {
    py::gil_scoped_acquire gil;
    py::object base = py::module_::import("ringraft").attr("StateMachine");
    py::object type = py::type::of(obj_.get());
    if (!py::hasattr(type, name)) return false;
    if (!py::hasattr(base, name)) return true;
    return !type.attr(name).is(base.attr(name));
  }

  PyRef obj_;
  uint64_t group_;
  bool custom_batch_;
};

// The config: parsed from TOML text (the Python package turns a dict into
// TOML with the file's keys) or read from a file.
NodeConfig config_from(const std::string& toml, bool is_path) {
  absl::StatusOr<NodeConfig> c = is_path ? load_config_toml(toml) : parse_config_toml(toml);
  if (!c.ok()) throw py::value_error(std::string(c.status().message()));
  return *std::move(c);
}

std::vector<MemberChange> changes_from(const std::vector<py::tuple>& changes) {
  std::vector<MemberChange> out;
  for (const py::tuple& t : changes) {
    if (t.size() != 3) throw py::value_error("a change is (kind, node, address)");
    std::string kind = py::cast<std::string>(t[0]);
    MemberChange ch;
    if (kind == "add_voter") {
      ch.kind = MemberChangeKind::kAddVoter;
    } else if (kind == "add_learner") {
      ch.kind = MemberChangeKind::kAddLearner;
    } else if (kind == "promote") {
      ch.kind = MemberChangeKind::kPromote;
    } else if (kind == "remove") {
      ch.kind = MemberChangeKind::kRemove;
    } else {
      throw py::value_error("change kind must be add_voter, add_learner, promote or remove");
    }
    ch.node = py::cast<uint64_t>(t[1]);
    ch.address = py::cast<std::string>(t[2]);
    out.push_back(std::move(ch));
  }
  return out;
}

ReadConsistency consistency(bool linearizable) {
  return linearizable ? ReadConsistency::kLinearizable : ReadConsistency::kStale;
}

// Runs `f` without the GIL: a call into the node may wait for a shard
// thread, which may be waiting for the GIL to apply.
template <typename F>
void without_gil(F&& f) {
  py::gil_scoped_release nogil;
  f();
}

// Raises RaftError (built by the Python package from the tuple) for an error.
[[noreturn]] void raise_status(const absl::Status& s) {
  py::gil_scoped_acquire gil;
  py::object err = py::module_::import("ringraft").attr("_error_from")(status_tuple(s));
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(err.ptr())), err.ptr());
  throw py::error_already_set();
}

template <typename T>
py::object value_or_raise(absl::StatusOr<T> r) {
  if (!r.ok()) raise_status(r.status());
  py::gil_scoped_acquire gil;
  return to_py(*r);
}

// Node, owned by Python. Destroyed without the GIL: stopping joins the shard
// threads, which take the GIL to drop the state machines and callbacks.
class PyNode {
 public:
  static std::unique_ptr<PyNode> start(const std::string& toml, bool is_path, py::object factory) {
    NodeConfig config = config_from(toml, is_path);
    auto shared_factory = std::make_shared<PyRef>(std::move(factory));
    StateMachineFactory make = [shared_factory](GroupId group) -> std::unique_ptr<StateMachine> {
      py::gil_scoped_acquire gil;
      py::object obj;
      try {
        obj = shared_factory->get()(group);
      } catch (py::error_already_set& e) {
        log_traceback(e, absl::StrCat("state machine factory raised for group ", group));
        return nullptr;
      }
      if (obj.is_none()) return nullptr;
      if (py::isinstance<NativeKvMarker>(obj)) return std::make_unique<NativeKv>();
      return std::make_unique<PyStateMachine>(std::move(obj), group);
    };
    absl::StatusOr<std::unique_ptr<Node>> node;
    {
      py::gil_scoped_release nogil;
      node = Node::start(std::move(config), std::move(make));
    }
    if (!node.ok()) raise_status(node.status());
    auto out = std::make_unique<PyNode>();
    out->node_ = std::move(*node);
    return out;
  }
  ~PyNode() { stop(); }
  void stop() {
    if (node_ == nullptr) return;
    std::unique_ptr<Node> n = std::move(node_);
    if (PyGILState_Check()) {
      py::gil_scoped_release nogil;
      n.reset();
    } else {
      n.reset();
    }
  }
  Node& node() {
    if (node_ == nullptr) throw std::runtime_error("the node is stopped");
    return *node_;
  }

  // A closed-loop load driven from C++ (no Python per request): `count`
  // proposals "k<i % keys>=<i>" with `window` in flight. Returns (seconds,
  // errors). Called without the GIL.
  std::pair<double, uint64_t> bench_propose(GroupId group, uint64_t count, uint32_t window,
                                            uint64_t keys) {
    struct Load {
      Node* node;
      GroupId group;
      uint64_t count, keys;
      std::atomic<uint64_t> next{0}, done{0}, errors{0};
      std::mutex mu;
      std::condition_variable cv;
      void issue(const std::shared_ptr<Load>& self) {
        const uint64_t i = next.fetch_add(1);
        if (i >= count) return;
        node->propose(group, absl::StrCat("k", i % keys, "=", i),
                      [self](absl::StatusOr<ProposeResult> r) {
                        if (!r.ok()) self->errors.fetch_add(1);
                        if (self->done.fetch_add(1) + 1 == self->count) {
                          std::lock_guard<std::mutex> lock(self->mu);
                          self->cv.notify_all();
                        }
                        self->issue(self);
                      });
      }
    };
    auto load = std::make_shared<Load>();
    load->node = &node();
    load->group = group;
    load->count = count;
    load->keys = keys == 0 ? 1 : keys;
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t w = 0; w < window; ++w) load->issue(load);
    std::unique_lock<std::mutex> lock(load->mu);
    load->cv.wait(lock, [&] { return load->done.load() >= load->count; });
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return {secs, load->errors.load()};
  }

 private:
  std::unique_ptr<Node> node_;
};

// AsyncClient, owned by Python; destroyed without the GIL (its IO thread
// completes what is left with Cancelled, calling Python).
class PyClient {
 public:
  PyClient(std::vector<std::string> addresses, ClientOptions options)
      : client_(std::make_unique<AsyncClient>(std::move(addresses), options)) {}
  ~PyClient() { close(); }
  void close() {
    if (client_ == nullptr) return;
    std::unique_ptr<AsyncClient> c = std::move(client_);
    py::gil_scoped_release nogil;
    c.reset();
  }
  AsyncClient& client() {
    if (client_ == nullptr) throw std::runtime_error("the client is closed");
    return *client_;
  }

 private:
  std::unique_ptr<AsyncClient> client_;
};

}  // namespace
}  // namespace raft::python

using namespace raft;          // NOLINT(google-build-using-namespace): binding glue.
using namespace raft::python;  // NOLINT(google-build-using-namespace)

PYBIND11_MODULE(_ringraft, m) {
  m.doc() = "C++ core of the ringraft package (use the `ringraft` package, not this module).";

  py::class_<PyWriter, std::shared_ptr<PyWriter>>(m, "SnapshotWriter",
                                                  "Sink of a snapshot being taken.")
      .def("write", &PyWriter::write, py::arg("data"),
           "Appends bytes to the snapshot (any size; call as often as needed).");
  py::class_<PyReader, std::shared_ptr<PyReader>>(m, "SnapshotReader",
                                                  "Source of a snapshot being restored.")
      .def("read", &PyReader::read, py::arg("n") = 1 << 20,
           "Reads up to n bytes; b'' at the end of the snapshot.")
      .def_property_readonly("index", &PyReader::index,
                             "Log index the snapshot covers (0 if unknown).");

  m.def(
      "check_config",
      [](const std::string& toml, bool is_path) {
        NodeConfig c = config_from(toml, is_path);
        py::dict d;
        d["node_id"] = c.node_id;
        d["address"] = c.address;
        d["data_dir"] = c.data_dir;
        d["groups"] = c.groups;
        d["balance_leaders"] = c.balance.leaders;
        d["max_sessions"] = c.max_sessions;
        return d;
      },
      py::arg("toml"), py::arg("is_path") = false,
      "Parses and validates a config (TOML text, or a file path); returns its identity.");

  py::class_<CompletionQueue, std::shared_ptr<CompletionQueue>>(
      m, "CompletionQueue",
      "Completions for one event loop: watch fileno() (loop.add_reader) and call drain().")
      .def(py::init<>())
      .def("fileno", &CompletionQueue::fileno)
      .def("drain", &CompletionQueue::drain, "Runs every queued completion; returns how many.");
  py::class_<NativeKvMarker>(m, "NativeKvMachine",
                             "A state machine in C++ (b\"key=value\" puts; apply returns the "
                             "previous value; query(key) the value): return one from the factory "
                             "to compare a Python machine with a native one.")
      .def(py::init<>());
  m.def(
      "apply_stats",
      [](bool reset) {
        py::dict d;
        d["batches"] = g_apply_stats.batches.load();
        d["entries"] = g_apply_stats.entries.load();
        d["gil_wait_s"] = static_cast<double>(g_apply_stats.gil_wait_ns.load()) / 1e9;
        d["python_s"] = static_cast<double>(g_apply_stats.python_ns.load()) / 1e9;
        if (reset) {
          g_apply_stats.batches = 0;
          g_apply_stats.entries = 0;
          g_apply_stats.gil_wait_ns = 0;
          g_apply_stats.python_ns = 0;
        }
        return d;
      },
      py::arg("reset") = false,
      "Python state machines' apply totals in this process: batches, entries, seconds waiting "
      "for the GIL, seconds in Python (with conversions).");

  py::class_<PyNode>(m, "Node")
      .def_static("start", &PyNode::start, py::arg("toml"), py::arg("is_path"), py::arg("factory"))
      .def("stop", &PyNode::stop)
      .def("bench_propose", &PyNode::bench_propose, py::arg("group"), py::arg("count"),
           py::arg("window"), py::arg("keys"), py::call_guard<py::gil_scoped_release>())
      .def("id", [](PyNode& n) { return n.node().id(); })
      .def("address", [](PyNode& n) { return n.node().address(); })
      .def(
          "status_json", [](PyNode& n) { return n.node().status_json(); },
          py::call_guard<py::gil_scoped_release>())
      .def(
          "metrics_text", [](PyNode& n) { return n.node().metrics_text(); },
          py::call_guard<py::gil_scoped_release>())
      .def("set_leader_balance", [](PyNode& n, bool on) { n.node().set_leader_balance(on); })
      .def("leader_balance", [](PyNode& n) { return n.node().leader_balance(); })
      .def("leader",
           [](PyNode& n, GroupId g) {
             absl::StatusOr<LeaderHint> h;
             Node& node = n.node();
             without_gil([&] { h = node.leader(g); });
             return value_or_raise(std::move(h));
           })
      // Asynchronous forms: done(err, value) on a shard thread, with the GIL.
      .def("propose_async",
           [](PyNode& n, GroupId g, std::string data, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             Node& node = n.node();
             without_gil([&] { node.propose(g, std::move(data), std::move(c)); });
           })
      .def("read_async",
           [](PyNode& n, GroupId g, std::string query, bool linearizable, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             Node& node = n.node();
             without_gil(
                 [&] { node.read(g, std::move(query), consistency(linearizable), std::move(c)); });
           })
      .def("change_membership_async",
           [](PyNode& n, GroupId g, const std::vector<py::tuple>& changes, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             std::vector<MemberChange> ch = changes_from(changes);
             Node& node = n.node();
             without_gil([&] { node.change_membership(g, std::move(ch), std::move(c)); });
           })
      .def("leave_async",
           [](PyNode& n, GroupId g, py::object done, std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             Node& node = n.node();
             without_gil([&] { node.leave(g, std::move(c)); });
           })
      .def("transfer_leader_async",
           [](PyNode& n, GroupId g, NodeId target, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             Node& node = n.node();
             without_gil([&] { node.transfer_leader(g, target, std::move(c)); });
           })
      .def("snapshot_async",
           [](PyNode& n, GroupId g, py::object done, std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             Node& node = n.node();
             without_gil([&] { node.make_snapshot(g, std::move(c)); });
           })
      // Blocking forms (the GIL released while waiting).
      .def("propose",
           [](PyNode& n, GroupId g, py::bytes data) {
             std::string d = data;
             absl::StatusOr<ProposeResult> r;
             {
               py::gil_scoped_release nogil;
               r = n.node().propose(g, std::move(d));
             }
             return value_or_raise(std::move(r));
           })
      .def("read",
           [](PyNode& n, GroupId g, py::bytes query, bool linearizable) {
             std::string q = query;
             absl::StatusOr<std::string> r;
             {
               py::gil_scoped_release nogil;
               r = n.node().read(g, std::move(q), consistency(linearizable));
             }
             return value_or_raise(std::move(r));
           })
      .def("change_membership",
           [](PyNode& n, GroupId g, const std::vector<py::tuple>& changes) {
             std::vector<MemberChange> ch = changes_from(changes);
             absl::StatusOr<ConfState> r;
             {
               py::gil_scoped_release nogil;
               r = n.node().change_membership(g, std::move(ch));
             }
             return value_or_raise(std::move(r));
           })
      .def("leave",
           [](PyNode& n, GroupId g) {
             absl::StatusOr<ConfState> r;
             {
               py::gil_scoped_release nogil;
               r = n.node().leave(g);
             }
             return value_or_raise(std::move(r));
           })
      .def("transfer_leader",
           [](PyNode& n, GroupId g, NodeId target) {
             absl::Status s;
             {
               py::gil_scoped_release nogil;
               s = n.node().transfer_leader(g, target);
             }
             if (!s.ok()) raise_status(s);
           })
      .def("snapshot", [](PyNode& n, GroupId g) {
        absl::StatusOr<Index> r;
        {
          py::gil_scoped_release nogil;
          r = n.node().make_snapshot(g);
        }
        return value_or_raise(std::move(r));
      });

  py::class_<PyClient>(m, "AsyncClient")
      .def(py::init([](std::vector<std::string> addresses, uint64_t cluster_id,
                       uint32_t request_timeout_ms, bool sessions) {
             ClientOptions o;
             o.cluster_id = cluster_id;
             o.request_timeout = std::chrono::milliseconds(request_timeout_ms);
             o.sessions = sessions;
             return std::make_unique<PyClient>(std::move(addresses), o);
           }),
           py::arg("addresses"), py::arg("cluster_id") = 1, py::arg("request_timeout_ms") = 10000,
           py::arg("sessions") = true)
      .def("propose_async",
           [](PyClient& pc, GroupId g, std::string data, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             AsyncClient& client = pc.client();
             without_gil([&] { client.propose(g, std::move(data), std::move(c)); });
           })
      .def("read_async",
           [](PyClient& pc, GroupId g, std::string query, bool linearizable, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             AsyncClient& client = pc.client();
             without_gil([&] {
               client.read(g, std::move(query), consistency(linearizable), std::move(c));
             });
           })
      .def("change_membership_async",
           [](PyClient& pc, GroupId g, const std::vector<py::tuple>& changes, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             std::vector<MemberChange> ch = changes_from(changes);
             AsyncClient& client = pc.client();
             without_gil([&] { client.change_config(g, std::move(ch), std::move(c)); });
           })
      .def("leave_async",
           [](PyClient& pc, GroupId g, NodeId node, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             AsyncClient& client = pc.client();
             without_gil([&] { client.leave(g, node, std::move(c)); });
           })
      .def("transfer_leader_async",
           [](PyClient& pc, GroupId g, NodeId target, py::object done,
              std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             AsyncClient& client = pc.client();
             without_gil([&] { client.transfer_leader(g, target, std::move(c)); });
           })
      .def("snapshot_async",
           [](PyClient& pc, GroupId g, py::object done, std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             AsyncClient& client = pc.client();
             without_gil([&] { client.snapshot(g, std::move(c)); });
           })
      .def("status_async",
           [](PyClient& pc, GroupId g, py::object done, std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             AsyncClient& client = pc.client();
             without_gil([&] {
               client.status(g, [c = std::move(c)](absl::StatusOr<std::string> r) mutable {
                 c(std::move(r));
               });
             });
           })
      .def("leader_async",
           [](PyClient& pc, GroupId g, py::object done, std::shared_ptr<CompletionQueue> queue) {
             Completion c(std::move(done), std::move(queue));
             AsyncClient& client = pc.client();
             without_gil([&] { client.leader(g, std::move(c)); });
           })
      .def(
          "in_flight", [](PyClient& pc) { return pc.client().in_flight(); },
          py::call_guard<py::gil_scoped_release>())
      .def("close", &PyClient::close);
}
