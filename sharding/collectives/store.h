// The key-value store every rendezvous goes through: rank 0 publishes the NCCL unique id or
// Gloo's addresses, the others wait for them; counters implement barriers and generations.
// Backends: InMemoryStore (one process), FileStore (a shared folder), the coordinator's gRPC
// store (coordinator/). Torch-free, header-only interface.
//
// Contract for every implementation:
//  - thread-safe; every blocking call takes an absolute deadline and returns
//    DeadlineExceeded naming the key(s) still missing when it passes (never blocks forever);
//  - values are opaque bytes; Add() stores its counter as decimal text, so Get() of a counter
//    returns e.g. "3", and Add() on a non-numeric value is InvalidArgument;
//  - keys are arbitrary non-empty byte strings; scoping by job and restart generation is done
//    by wrapping a store in a PrefixStore (see prefix_store.h), never by the callers' strings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace zt::sharding {

class Store {
 public:
  virtual ~Store() = default;

  // Creates or overwrites `key`; wakes every waiter on it.
  virtual absl::Status Set(absl::string_view key, absl::string_view value) = 0;

  // The value of `key`, waiting until it exists or `deadline` passes.
  virtual absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline) = 0;

  // Waits until every key in `keys` exists or `deadline` passes.
  virtual absl::Status Wait(absl::Span<const std::string> keys, absl::Time deadline) = 0;

  // Adds `delta` to the integer counter at `key` (absent = 0) and returns the new value.
  virtual absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) = 0;

  // Removes `key`; returns whether it existed.
  virtual absl::StatusOr<bool> Delete(absl::string_view key) = 0;

  // Whether every key exists right now (no waiting).
  virtual absl::StatusOr<bool> Check(absl::Span<const std::string> keys) = 0;
};

// DeadlineExceeded "timed out after waiting for key(s) a, b in <store>" — the one message
// every backend gives, so a hung rendezvous always says what it waited for.
absl::Status StoreDeadlineError(absl::string_view store_name, absl::Span<const std::string> keys);

// Parses a counter value written by Add(); InvalidArgument naming `key` otherwise.
absl::StatusOr<int64_t> ParseCounter(absl::string_view key, absl::string_view value);

}  // namespace zt::sharding
