// Lets Gloo's rendezvous (gloo::rendezvous::Context::connectFullMesh) run through a zerotune
// Store, so Gloo's addresses travel the same job/generation-scoped store as everything else.
// Gloo's Store interface has no deadline and reports failure by throwing; this adapter bounds
// every wait by `deadline` and keeps the Store's own status (e.g. DeadlineExceeded naming the
// missing key) for the caller to return instead of Gloo's exception text.
#pragma once

#include <gloo/rendezvous/store.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sharding/collectives/store.h"

namespace zt::sharding {

class GlooStoreAdapter final : public gloo::rendezvous::Store {
 public:
  GlooStoreAdapter(std::shared_ptr<zt::sharding::Store> store, absl::Time deadline);

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

  // The first store error seen (OK if none); the thrown gloo::IoException carries its text.
  absl::Status first_error() const;

 private:
  [[noreturn]] void Fail(absl::Status status);

  std::shared_ptr<zt::sharding::Store> store_;
  absl::Time deadline_;
  mutable absl::Mutex mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zt::sharding
