// ZeRO stage 3 across real processes (Gloo): per-rank resident bytes of the frozen tensors are
// exactly Σ ceil(n / W) elements (uint8 storage included) at W = 2 and 4, ranks fetching units
// in different orders are reported (W = 2), a unit's fetch is one coalesced all-gather per
// dtype and its gradients one coalesced reduce-scatter (W = 2, counted), and training the tiny
// Qwen2 decoder (LoRA with the frozen base partitioned too, and full fine-tuning; tied and
// untied embeddings; gradient checkpointing on and off; optimizer and parameter offload on and
// off) matches a
// single-process reference on the same global batch (stage 0 semantics) in float64:
// ||p - p_ref|| / ||p_ref|| <= 1e-10 over the trainable parameters after 4 steps.
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "sharding/zero/parameter_groups.h"
#include "sharding/zero/zero3_optimizer.h"
#include "sharding/zero/zero3_parameters.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/sharding/tiny_decoder_config.h"
#include "tests/support/rank_processes.h"
#include "worker/model/decoder.h"
#include "worker/model/decoder_partition.h"
#include "worker/model/lora_model.h"

namespace zt::sharding {
namespace {

using worker::model::Decoder;

constexpr int kSteps = 4;
constexpr int64_t kMicroBatch = 2;
constexpr int64_t kAccumulation = 2;
constexpr int64_t kSequence = 8;

using testing::TinyQwen2;

struct Variant {
  bool lora = false;
  bool tied = true;
  bool checkpointing = false;
  bool offload = false;
};

std::string Name(const Variant& v) {
  return absl::StrCat(v.lora ? "LoRA" : "full", v.tied ? " tied" : " untied",
                      v.checkpointing ? " checkpointing" : "", v.offload ? " offload" : "");
}

std::unique_ptr<Decoder> MakeDecoder(const Variant& v) {
  auto decoder = std::make_unique<Decoder>(*Decoder::RandomInit(TinyQwen2(v.tied), 5, at::kDouble));
  if (v.lora) {
    worker::model::LoraOptions options;
    options.r = 4;
    options.lora_alpha = 8;
    options.target_modules.kind = configs::LoraTargetModules::Kind::kAllLinear;
    options.init_b_zero = false;  // both factors get gradients from the first step
    options.dtype = at::kDouble;
    EXPECT_TRUE(worker::model::ApplyLora(*decoder, options, 9).ok());
  }
  worker::model::SetTrainable(*decoder, /*train_base=*/!v.lora);
  return decoder;
}

at::Tensor Tokens(int world, int step) {
  at::manual_seed(500 + step);
  return at::randint(0, 64, {world * kMicroBatch * kAccumulation, kSequence}, at::kLong);
}

at::Tensor Loss(const Decoder& decoder, const at::Tensor& ids,
                worker::model::ForwardOptions options) {
  return worker::model::CausalLmLoss(decoder.Logits(ids, at::Tensor(), options), ids);
}

configs::OptimizerConfig Optimizer() {
  configs::OptimizerConfig o;
  o.lr = 5e-3;
  o.weight_decay = 0.01;
  return o;
}

// Trainable tensors by name after kSteps of full-batch AdamW (the HF Trainer's decay / no-decay
// groups) with clipping at 1.0.
std::map<std::string, at::Tensor> Reference(const Variant& v, int world) {
  std::unique_ptr<Decoder> decoder = MakeDecoder(v);
  std::map<std::string, at::Tensor> named;
  std::vector<at::Tensor> params, decay, no_decay;
  for (auto& [name, t] : decoder->NamedTensors()) {
    if (!t->requires_grad()) continue;
    named[name] = *t;
    params.push_back(*t);
    (HasWeightDecay(name) ? decay : no_decay).push_back(*t);
  }
  // The HF Trainer's groups: biases and norms without weight decay.
  const configs::OptimizerConfig o = Optimizer();
  auto adamw_options = [&o](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o.lr)
                                                            .betas({o.beta1, o.beta2})
                                                            .eps(o.eps)
                                                            .weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, adamw_options(o.weight_decay));
  if (!no_decay.empty()) groups.emplace_back(no_decay, adamw_options(0.0));
  torch::optim::AdamW adamw(groups, torch::optim::AdamWOptions(o.lr));
  worker::model::ForwardOptions options;
  options.gradient_checkpointing = v.checkpointing;
  for (int step = 0; step < kSteps; ++step) {
    adamw.zero_grad();
    Loss(*decoder, Tokens(world, step), options).backward();
    double sq = 0;
    for (const at::Tensor& p : params) sq += p.grad().pow(2).sum().item<double>();
    const double coef = 1.0 / (std::sqrt(sq) + 1e-6);
    if (coef < 1.0) {
      for (const at::Tensor& p : params) p.grad().mul_(coef);
    }
    adamw.step();
  }
  for (auto& [name, t] : named) t = t.detach().clone();
  return named;
}

void ExpectEquivalence(std::shared_ptr<Communicator> comm, const Variant& v) {
  SCOPED_TRACE(absl::StrCat(Name(v), " world ", comm->Size()));
  const int world = comm->Size(), rank = comm->Rank();
  const std::map<std::string, at::Tensor> reference = Reference(v, world);
  std::unique_ptr<Decoder> decoder = MakeDecoder(v);
  Zero3ParameterOptions param_options;
  param_options.persistence_threshold = 32;  // norms and biases stay whole
  param_options.prefetch_bucket_numel = 6000;
  param_options.max_live_numel = 12000;
  param_options.offload_param = v.offload;
  auto params = worker::model::PartitionDecoder(*decoder, param_options, comm);
  ASSERT_TRUE(params.ok()) << params.status();
  Zero3OptimizerOptions options;
  options.gradient_clipping = 1.0;
  options.optimizer = Optimizer();
  options.offload.offload = v.offload;
  auto optimizer = Zero3Optimizer::Create(params->get(), options);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  worker::model::ForwardOptions forward;
  forward.gradient_checkpointing = v.checkpointing;
  forward.parameter_hook = params->get();
  for (int step = 0; step < kSteps; ++step) {
    at::Tensor tokens = Tokens(world, step);
    for (int64_t g = 0; g < kAccumulation; ++g) {
      at::Tensor ids = tokens.narrow(0, (g * world + rank) * kMicroBatch, kMicroBatch);
      absl::Status backward = (*optimizer)->Backward(
          Loss(*decoder, ids, forward) / static_cast<double>(kAccumulation),
          /*last_micro_batch=*/g + 1 == kAccumulation);
      ASSERT_TRUE(backward.ok()) << backward;
    }
    absl::StatusOr<StepResult> result = (*optimizer)->Step();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->applied);
  }
  double diff = 0, norm = 0, moved = 0;
  size_t compared = 0;
  // stage3_gather_16bit_weights_on_model_save: the trainable tensors, whole, on every rank.
  auto gathered = (*params)->GatherNamedTensors(/*trainable_only=*/true);
  ASSERT_TRUE(gathered.ok()) << gathered.status();
  for (const auto& [name, full] : *gathered) {
    if (name == "lm_head.weight" && v.tied) continue;  // the embedding's alias
    const at::Tensor& want = reference.at(name);
    diff += (full - want).pow(2).sum().item<double>();
    norm += want.pow(2).sum().item<double>();
    ++compared;
  }
  EXPECT_EQ(compared, reference.size());
  EXPECT_LE(std::sqrt(diff / norm), 1e-10);
  // Training moved the parameters (the comparison is not vacuous).
  std::unique_ptr<Decoder> untouched = MakeDecoder(v);
  for (auto& [name, t] : untouched->NamedTensors()) {
    if (reference.count(name)) moved += (*t - reference.at(name)).pow(2).sum().item<double>();
  }
  EXPECT_GT(std::sqrt(moved / norm), 1e-4);
}

// Every combination at W = 2; at W = 4 (slow on a 2-core CI) each of LoRA / full, tied /
// untied, checkpointing (+ offload) on / off still appears.
std::vector<Variant> Variants(int world) {
  std::vector<Variant> out;
  for (bool lora : {true, false}) {
    for (bool tied : {true, false}) {
      for (bool checkpointing : {false, true}) {
        if (world > 2 && (lora == tied) != checkpointing) continue;
        out.push_back({lora, tied, checkpointing, /*offload=*/checkpointing});
      }
    }
  }
  return out;
}

void ExpectResidentBytes(std::shared_ptr<Communicator> comm) {
  const int world = comm->Size();
  std::unique_ptr<Decoder> decoder = MakeDecoder({/*lora=*/true, /*tied=*/true});
  at::manual_seed(3);
  at::Tensor packed = at::randint(0, 256, {41, 3}, at::kByte);  // 123 bytes, not a multiple of W
  const at::Tensor packed_copy = packed.clone();
  int64_t frozen = 0, trainable = 0;
  std::vector<std::pair<std::string, at::Tensor*>> slots = decoder->TensorSlots();
  std::vector<std::vector<std::string>> units = decoder->ParameterUnits();
  for (auto& [name, t] : decoder->NamedTensors()) {
    const int64_t bytes = (t->numel() + world - 1) / world * t->element_size();
    (t->requires_grad() ? trainable : frozen) += bytes;
  }
  frozen += (123 + world - 1) / world;
  slots.emplace_back("extra.packed", &packed);
  units.push_back({"extra.packed"});
  auto params = Zero3Parameters::Create(slots, units, {}, comm);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ((*params)->ResidentBytes(/*trainable=*/false), frozen);
  EXPECT_EQ((*params)->ResidentBytes(/*trainable=*/true), trainable);
  // Between layers of a forward, only partitions (and the gathered unit) are resident.
  worker::model::ForwardOptions forward;
  forward.parameter_hook = params->get();
  {
    at::NoGradGuard no_grad;
    (void)decoder->Logits(Tokens(world, 0).narrow(0, 0, 1), at::Tensor(), forward);
  }
  EXPECT_EQ((*params)->ResidentBytes(false), frozen);
  std::vector<at::Tensor> gathered = (*params)->Fetch((*params)->num_units() - 1, {});
  EXPECT_TRUE(at::equal(gathered.at(0), packed_copy));
  (*params)->Release((*params)->num_units() - 1);
}

// Forwards every collective to `inner`, counting the all-gathers and reduce-scatters.
class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(std::shared_ptr<Communicator> inner) : inner_(std::move(inner)) {}
  int Rank() const override { return inner_->Rank(); }
  int Size() const override { return inner_->Size(); }
  std::string BackendName() const override { return inner_->BackendName(); }
  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor tensor, ReduceOp op) override {
    return inner_->AllReduce(tensor, op);
  }
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                      ReduceOp op) override {
    ++reduce_scatters;
    return inner_->ReduceScatter(input, output, op);
  }
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor input, at::Tensor output) override {
    ++all_gathers;
    return inner_->AllGather(input, output);
  }
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor tensor, int root) override {
    return inner_->Broadcast(tensor, root);
  }
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override { return inner_->Barrier(); }
  void Abort(absl::Status reason) override { inner_->Abort(std::move(reason)); }

  int64_t all_gathers = 0;
  int64_t reduce_scatters = 0;

 private:
  std::shared_ptr<Communicator> inner_;
};

// Coalesced gathers (docs/training.md): a unit's fetch is one all-gather per (dtype, device)
// group of its partitioned tensors, whatever their sizes (padding: numel not a multiple of W)
// and storage dtypes; a decoder's forward issues one per unit holding partitioned tensors, its
// backward (no checkpointing) one per unit re-gathered and one reduce-scatter per unit of
// trainable tensors (all their gradients at once).
void ExpectOneAllGatherPerUnit(std::shared_ptr<Communicator> comm) {
  const int world = comm->Size(), rank = comm->Rank();
  auto counting = std::make_shared<CountingCommunicator>(comm);
  at::manual_seed(21);  // every rank builds the same tensors
  const std::vector<at::Tensor> originals = {
      at::randn({7}, at::kDouble), at::randint(0, 256, {11}, at::kByte),
      at::randn({3, 5}, at::kDouble), at::randn({2, 3}, at::kDouble),
      at::randint(0, 256, {3}, at::kByte)};
  std::vector<at::Tensor> tensors;
  for (const at::Tensor& t : originals) tensors.push_back(t.clone());
  std::vector<std::pair<std::string, at::Tensor*>> slots;
  std::vector<std::string> unit;
  for (size_t j = 0; j < tensors.size(); ++j) {
    slots.emplace_back(absl::StrCat("t", j), &tensors[j]);
    unit.push_back(absl::StrCat("t", j));
  }
  {
    auto mixed = Zero3Parameters::Create(slots, {unit}, {}, counting);
    ASSERT_TRUE(mixed.ok()) << mixed.status();
    const std::vector<at::Tensor> gathered = (*mixed)->Fetch(0, {});
    EXPECT_EQ(counting->all_gathers, 2);  // fp64 and uint8
    ASSERT_EQ(gathered.size(), originals.size());
    for (size_t j = 0; j < originals.size(); ++j) {
      EXPECT_TRUE(at::equal(gathered[j], originals[j])) << "t" << j;
    }
    (*mixed)->Release(0);
  }

  std::unique_ptr<Decoder> decoder = MakeDecoder({/*lora=*/false, /*tied=*/true});
  const std::vector<std::vector<std::string>> units = decoder->ParameterUnits();
  Zero3ParameterOptions options;
  options.persistence_threshold = 32;  // norms and biases stay whole
  auto params = worker::model::PartitionDecoder(*decoder, options, counting);
  ASSERT_TRUE(params.ok()) << params.status();
  std::map<std::string, int> ids;
  for (int id = 0; id < (*params)->num_params(); ++id) {
    for (const std::string& name : (*params)->param(id).names) ids[name] = id;
  }
  int64_t gathering_units = 0, partitioned_uses = 0, trainable_units = 0, trainable_uses = 0;
  for (size_t u = 0; u < units.size(); ++u) {
    int64_t partitioned = 0;
    for (const std::string& name : units[u]) {
      partitioned += (*params)->param(ids.at(name)).persistent ? 0 : 1;
    }
    gathering_units += partitioned > 0 ? 1 : 0;
    partitioned_uses += partitioned;
    const size_t trainable = (*params)->TrainableInputs(static_cast<int>(u)).size();
    trainable_units += trainable > 0 ? 1 : 0;
    trainable_uses += static_cast<int64_t>(trainable);
  }
  EXPECT_GT(partitioned_uses, 2 * gathering_units);  // a layer holds several tensors
  EXPECT_GT(trainable_uses, 2 * trainable_units);
  worker::model::ForwardOptions forward;
  forward.parameter_hook = params->get();
  counting->all_gathers = 0;
  counting->reduce_scatters = 0;
  const at::Tensor tokens = Tokens(world, 0).narrow(0, rank * kMicroBatch, kMicroBatch);
  const at::Tensor loss = Loss(*decoder, tokens, forward);
  EXPECT_EQ(counting->all_gathers, gathering_units);
  counting->all_gathers = 0;
  loss.backward();
  // Every unit but the embedding (its gradient reads no weight) is gathered again.
  EXPECT_EQ(counting->all_gathers, gathering_units - 1);
  EXPECT_EQ(counting->reduce_scatters, trainable_units);
  EXPECT_EQ((*params)->LiveGatheredNumel(), 0);
}

// Ranks that fetch the two (equally shaped) layers in different orders: the gathers match in
// size, so nothing hangs, and the next PartitionsUpdated reports the divergence on every rank.
void ExpectDivergenceDetected(std::shared_ptr<Communicator> comm) {
  std::unique_ptr<Decoder> decoder = MakeDecoder({/*lora=*/false, /*tied=*/true});
  Zero3ParameterOptions options;
  options.prefetch_bucket_numel = 0;  // no prefetch: only the fetches below gather
  auto params = worker::model::PartitionDecoder(*decoder, options, comm);
  ASSERT_TRUE(params.ok()) << params.status();
  at::NoGradGuard no_grad;
  const std::vector<int> order = comm->Rank() == 0 ? std::vector<int>{1, 2} : std::vector<int>{2, 1};
  for (int unit : order) {
    (void)(*params)->Fetch(unit, (*params)->TrainableInputs(unit));
    (*params)->Release(unit);
  }
  const absl::Status status = (*params)->PartitionsUpdated();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("ranks fetched different unit sequences"), absl::string_view::npos)
      << status;
  // The same order on every rank passes (and the check starts afresh).
  for (int unit : {1, 2}) {
    (void)(*params)->Fetch(unit, (*params)->TrainableInputs(unit));
    (*params)->Release(unit);
  }
  EXPECT_TRUE((*params)->PartitionsUpdated().ok());
}

// A QLoRA decoder's 4-bit bases are cut at whole quantization blocks: each rank's packed
// bytes are a multiple of blocksize / 2 and begin at block r * ceil(blocks / W), its absmax
// codes are those blocks' codes, the constants keep their dtypes in a bf16 model, and the
// gathered layer reproduces every packed tensor byte for byte.
void ExpectPacked4bitBlocksStayWhole(std::shared_ptr<Communicator> comm) {
  SCOPED_TRACE("packed 4-bit");
  constexpr int64_t kBlocksize = 512;
  const int rank = comm->Rank();
  std::unique_ptr<Decoder> decoder =
      std::make_unique<Decoder>(*Decoder::RandomInit(TinyQwen2(true), 5, at::kBFloat16));
  std::map<std::string, at::Tensor> packed;  // name -> the tensor before partitioning
  for (auto& [module, linear] : decoder->layers()[0].Linears()) {
    worker::model::Frozen4bitBase base;
    base.compute_dtype = at::kBFloat16;
    base.weight = worker::model::QuantizePacked4bit(linear->weight, kernels::Quant4Type::kNf4,
                                                    kBlocksize, /*double_quant=*/true);
    linear->weight = at::Tensor();
    linear->base4bit = std::move(base);
  }
  for (auto& [name, t] : decoder->Packed4bitSlots()) packed[name] = t->clone();
  Zero3ParameterOptions options;
  options.floating_dtype = at::kBFloat16;
  auto params = worker::model::PartitionDecoder(*decoder, options, comm);
  ASSERT_TRUE(params.ok()) << params.status();
  std::map<std::string, int> ids;
  for (int id = 0; id < (*params)->num_params(); ++id) ids[(*params)->param(id).names[0]] = id;
  // Blocks of 512 (256 bytes): ceil(bytes / W) alone would split k_proj's single block and
  // gate_proj's third one.
  constexpr int64_t kBlockBytes = kBlocksize / 2;
  int weights = 0;
  for (auto& [module, linear] : decoder->layers()[0].Linears()) {
    SCOPED_TRACE(module);
    const std::string name = "model.layers.0." + module + ".weight";
    const Zero3Parameter& bytes = (*params)->param(ids.at(name));
    const Zero3Parameter& codes = (*params)->param(ids.at(name + ".absmax"));
    EXPECT_EQ(bytes.partition_numel % kBlockBytes, 0);
    EXPECT_EQ(bytes.partition_numel / kBlockBytes, codes.partition_numel);
    const int64_t begin = std::min<int64_t>(rank * bytes.partition_numel, bytes.numel);
    const int64_t n = std::min<int64_t>(bytes.partition_numel, bytes.numel - begin);
    EXPECT_TRUE(at::equal(bytes.partition.narrow(0, 0, n),
                          packed.at(name).reshape({-1}).narrow(0, begin, n)));
    const int64_t block = std::min<int64_t>(begin / kBlockBytes, codes.numel);
    const int64_t m = std::min<int64_t>(codes.partition_numel, codes.numel - block);
    EXPECT_TRUE(at::equal(codes.partition.narrow(0, 0, m),
                          packed.at(name + ".absmax").narrow(0, block, m)));
    EXPECT_EQ((*params)->param(ids.at(name + ".nested_absmax")).dtype, at::kFloat);
    EXPECT_EQ((*params)->param(ids.at(name + ".quant_map")).dtype, at::kFloat);
    ++weights;
  }
  EXPECT_EQ(weights, 7);
  const std::vector<std::vector<std::string>> units = decoder->ParameterUnits();
  const std::vector<at::Tensor> layer = (*params)->Fetch(1, (*params)->TrainableInputs(1));
  int compared = 0;
  for (size_t j = 0; j < layer.size(); ++j) {
    auto it = packed.find(units[1][j]);
    if (it == packed.end()) continue;
    EXPECT_TRUE(at::equal(layer[j], it->second)) << it->first;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(packed.size()));
  (*params)->Release(1);
}

TEST(Zero3MultirankTest, ResidentBytesAndEquivalenceAtWorldSize2) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero3-test");
    ASSERT_NE(comm, nullptr);
    ExpectResidentBytes(comm);
    ExpectDivergenceDetected(comm);
    ExpectOneAllGatherPerUnit(comm);
    ExpectPacked4bitBlocksStayWhole(comm);
    for (const Variant& v : Variants(comm->Size())) ExpectEquivalence(comm, v);
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(300));
}

TEST(Zero3MultirankTest, ResidentBytesAndEquivalenceAtWorldSize4) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero3-test");
    ASSERT_NE(comm, nullptr);
    ExpectResidentBytes(comm);
    for (const Variant& v : Variants(comm->Size())) ExpectEquivalence(comm, v);
    return;
  }
  testing::RunGlooRanks(4, absl::Seconds(300));
}

}  // namespace
}  // namespace zt::sharding
