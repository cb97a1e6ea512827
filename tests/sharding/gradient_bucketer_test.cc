// GradientBucketer in one process, through a communicator that records when reductions are
// launched and waited for: every bucket reduced exactly once per reducing backward (unused
// parameters contribute zeros), a parameter firing twice reduced with both contributions (a
// second round only in the backward that learns it), overlap_comm keeping one reduction in
// flight while backward continues, and the accumulator equal to autograd's gradients.
#include "sharding/zero/gradient_bucketer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "sharding/collectives/self_communicator.h"
#include "sharding/zero/flat_buffer.h"

namespace zt::sharding {
namespace {

// SelfCommunicator whose reductions count as outstanding until waited for.
class RecordingCommunicator final : public Communicator {
 public:
  int Rank() const override { return 0; }
  int Size() const override { return 1; }
  std::string BackendName() const override { return "recording"; }
  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor t, ReduceOp op) override {
    return Record(self_.AllReduce(t, op));
  }
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor in, at::Tensor out,
                                                      ReduceOp op) override {
    return Record(self_.ReduceScatter(in, out, op));
  }
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor in, at::Tensor out) override {
    return self_.AllGather(in, out);
  }
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor t, int root) override {
    return self_.Broadcast(t, root);
  }
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override { return self_.Barrier(); }
  void Abort(absl::Status reason) override { self_.Abort(reason); }

  int launched = 0;
  int outstanding = 0;
  int max_outstanding = 0;
  int hooks_while_outstanding = 0;  // gradient hooks that ran with a reduction in flight

 private:
  class CountedWork final : public Work {
   public:
    CountedWork(RecordingCommunicator* comm, std::unique_ptr<Work> inner)
        : comm_(comm), inner_(std::move(inner)) {}
    absl::Status Wait(absl::Time deadline) override {
      if (!waited_) --comm_->outstanding;
      waited_ = true;
      return inner_->Wait(deadline);
    }
    bool IsCompleted() override { return waited_; }

   private:
    RecordingCommunicator* comm_;
    std::unique_ptr<Work> inner_;
    bool waited_ = false;
  };

  absl::StatusOr<std::unique_ptr<Work>> Record(absl::StatusOr<std::unique_ptr<Work>> work) {
    if (!work.ok()) return work;
    ++launched;
    max_outstanding = std::max(max_outstanding, ++outstanding);
    return std::unique_ptr<Work>(std::make_unique<CountedWork>(this, std::move(*work)));
  }

  SelfCommunicator self_;
};

// Four linears of 8x8 (+ bias) in buckets of one layer; returns the leaves in forward order.
std::vector<at::Tensor> MakeLeaves() {
  at::manual_seed(2);
  std::vector<at::Tensor> leaves;
  for (int i = 0; i < 4; ++i) {
    leaves.push_back(at::randn({8, 8}, at::kDouble).requires_grad_());
    leaves.push_back(at::randn({8}, at::kDouble).requires_grad_());
  }
  return leaves;
}

at::Tensor Loss(const std::vector<at::Tensor>& leaves, const at::Tensor& x, int skip_layer = -1) {
  at::Tensor h = x;
  for (int i = 0; i < 4; ++i) {
    if (i == skip_layer) continue;
    h = at::tanh(at::addmm(leaves[2 * i + 1], h, leaves[2 * i].t()));
  }
  return h.pow(2).sum();
}

FlatLayout LayoutFor(const std::vector<at::Tensor>& leaves) {
  std::vector<int64_t> numels;
  for (const at::Tensor& t : leaves) numels.push_back(t.numel());
  return *FlatLayout::Create(numels, FlatLayoutOptions{1, 72, 2});
}

// Autograd's gradients of `passes` backward passes (no hooks installed yet), flattened into the
// layout; the leaves' grads are cleared again.
at::Tensor ExpectedFlatGradient(const FlatLayout& layout, const std::vector<at::Tensor>& leaves,
                                const std::function<at::Tensor()>& loss, int passes = 1) {
  at::Tensor flat = at::zeros({layout.flat_numel()}, at::kDouble);
  for (int p = 0; p < passes; ++p) loss().backward();
  for (int i = 0; i < layout.num_params(); ++i) {
    if (!leaves[i].grad().defined()) continue;
    flat.narrow(0, layout.slot(i).flat_offset, layout.slot(i).numel)
        .copy_(leaves[i].grad().reshape({-1}));
    leaves[i].mutable_grad().reset();
  }
  return flat;
}

TEST(GradientBucketerTest, EveryBucketReducedOnceAndOverlapKeepsOneInFlight) {
  std::vector<at::Tensor> leaves = MakeLeaves();
  const FlatLayout layout = LayoutFor(leaves);
  ASSERT_EQ(layout.buckets().size(), 4u);
  const at::Tensor x = at::randn({3, 8}, at::kDouble);
  const at::Tensor expected = ExpectedFlatGradient(layout, leaves, [&] { return Loss(leaves, x); });
  for (bool overlap : {false, true}) {
    RecordingCommunicator comm;
    at::Tensor accumulator = at::zeros({layout.partition_numel()}, at::kDouble);
    GradientBucketerOptions options;
    options.overlap_comm = overlap;
    options.on_reduced = [&](int) { EXPECT_GE(comm.outstanding, 0); };
    GradientBucketer bucketer(leaves, layout, comm, accumulator, options);
    common::GradAccumulatorHook probe(leaves[0], [&](const at::Tensor&) {
      if (comm.outstanding > 0) ++comm.hooks_while_outstanding;
    });
    bucketer.BeginBackward(true);
    Loss(leaves, x).backward();
    ASSERT_TRUE(bucketer.FinishBackward().ok());
    EXPECT_EQ(comm.launched, 4) << "overlap " << overlap;
    EXPECT_EQ(comm.outstanding, 0);
    EXPECT_EQ(comm.max_outstanding, overlap ? 2 : 1);
    // The first layer's gradient (the last produced) arrives while an earlier bucket's
    // reduction is still in flight only with overlap_comm.
    EXPECT_EQ(comm.hooks_while_outstanding, overlap ? 1 : 0);
    EXPECT_TRUE(at::allclose(accumulator, expected, 0, 1e-15));
    for (const at::Tensor& t : leaves) EXPECT_FALSE(t.grad().defined());
  }
}

TEST(GradientBucketerTest, UnusedParametersContributeZerosAndNonReducingBackwardsAccumulate) {
  std::vector<at::Tensor> leaves = MakeLeaves();
  const FlatLayout layout = LayoutFor(leaves);
  const at::Tensor x = at::randn({3, 8}, at::kDouble);
  auto loss = [&] { return Loss(leaves, x, /*skip_layer=*/2); };
  // Two micro-steps: autograd's sum of both.
  const at::Tensor expected = ExpectedFlatGradient(layout, leaves, loss, 2);
  RecordingCommunicator comm;
  at::Tensor accumulator = at::zeros({layout.partition_numel()}, at::kDouble);
  GradientBucketer bucketer(leaves, layout, comm, accumulator, GradientBucketerOptions());
  bucketer.BeginBackward(false);  // stage 0/1 inside the accumulation window
  loss().backward();
  ASSERT_TRUE(bucketer.FinishBackward().ok());
  EXPECT_EQ(comm.launched, 0);
  EXPECT_TRUE(leaves[0].grad().defined());
  bucketer.BeginBackward(true);  // the boundary picks up what accumulated in param.grad
  loss().backward();
  ASSERT_TRUE(bucketer.FinishBackward().ok());
  EXPECT_EQ(comm.launched, 4);
  EXPECT_TRUE(at::allclose(accumulator, expected, 0, 1e-15));
  const ParamSlot& unused = layout.slot(4);  // layer 2's weight never fired
  EXPECT_EQ(accumulator.narrow(0, unused.flat_offset, unused.numel).abs().sum().item<double>(), 0);
}

TEST(GradientBucketerTest, ASecondFiringIsReducedInASecondRoundOnlyUntilItIsLearned) {
  std::vector<at::Tensor> leaves = MakeLeaves();
  const FlatLayout layout = LayoutFor(leaves);
  const at::Tensor x = at::randn({3, 8}, at::kDouble);
  auto loss = [&] { return Loss(leaves, x); };
  const at::Tensor expected = ExpectedFlatGradient(layout, leaves, loss, 2);
  RecordingCommunicator comm;
  at::Tensor accumulator = at::zeros({layout.partition_numel()}, at::kDouble);
  GradientBucketer bucketer(leaves, layout, comm, accumulator, GradientBucketerOptions());
  for (int backward = 0; backward < 2; ++backward) {
    accumulator.zero_();
    comm.launched = 0;
    bucketer.BeginBackward(true);
    loss().backward();  // two passes: every hook fires twice
    loss().backward();
    ASSERT_TRUE(bucketer.FinishBackward().ok());
    // First backward: 4 buckets, then 4 second rounds; afterwards each bucket waits for both.
    EXPECT_EQ(comm.launched, backward == 0 ? 8 : 4);
    EXPECT_TRUE(at::allclose(accumulator, expected, 0, 1e-14)) << "backward " << backward;
  }
}

}  // namespace
}  // namespace zt::sharding
