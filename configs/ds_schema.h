// The table of every ds_config key zerotune recognises, block by block, with its DeepSpeed
// name, aliases, type, default (the newest DeepSpeed release's, see docs/ds_config.md) and what
// zerotune does with it. ResolveBlock() turns one block of a user's config into the block with
// every key present under its canonical DeepSpeed name, checking types and the support policy:
//
//  kImplemented  zerotune implements the key.
//  kRejected     a value other than the default is an error: "<v> is not supported by zerotune".
//  kLogging      only changes DeepSpeed's logging; a non-default value gives one warning.
//  kIgnored      accepted and has no effect (DeepSpeed ignores it too, or it is a pure
//                performance knob of DeepSpeed's internals); a non-default value warns with why.
//
// Unknown keys are errors in strict blocks (those DeepSpeed validates with pydantic
// extra="forbid") and warnings elsewhere; both carry a did-you-mean. In strict blocks a value
// "auto" left over after the HF Trainer resolution (hf_auto.h) takes the default, as DeepSpeed's
// non-strict pydantic models do.
#pragma once

#include <string>
#include <vector>

#include "configs/diagnostics.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

enum class ValueKind {
  kBool,
  kNullableBool,
  kInt,             // integral JSON number (2e8 accepted), any sign
  kNonNegativeInt,  // as kInt, >= 0 (pydantic ge=0)
  kPositiveInt,     // as kInt, > 0 (pydantic gt=0)
  kNullableInt,
  kNumber,          // any finite number, stored as double
  kString,
  kNullableString,
  kObject,          // a nested block, resolved by the caller; null when absent
  kAny,             // passed through unchanged
};

enum class Support { kImplemented, kRejected, kLogging, kIgnored };

struct KeySpec {
  const char* name;          // canonical DeepSpeed key
  ValueKind kind;
  const char* default_json;  // the default as JSON text
  Support support;
  const char* aliases = "";  // '|'-separated other spellings DeepSpeed accepts
  const char* choices = "";  // '|'-separated allowed strings (exact case), "" = any
  const char* note = "";     // why a kIgnored/kLogging key has no effect
};

struct BlockSpec {
  const char* path;  // "" for the top level
  bool strict;       // unknown keys are errors (pydantic extra="forbid")
  std::vector<KeySpec> keys;
};

// The blocks: "" (top level), zero_optimization, zero_optimization.offload_optimizer,
// zero_optimization.offload_param, fp16, bf16, tensorboard, csv_monitor, wandb, comet,
// comms_logger, activation_checkpointing, data_types, checkpoint. nullptr for other names.
const BlockSpec* FindBlockSpec(const std::string& path);

// The spec of `key` (canonical name or alias) inside `block`, or nullptr.
const KeySpec* FindKeySpec(const BlockSpec& block, const std::string& key);

// Resolves `in` (an object, or null for an absent block) against `spec`. Keys of kind kObject
// are copied through (null when absent) for the caller to resolve. Problems go to `diag` with
// paths "<spec.path>.<key>". The result holds every key of `spec`.
nlohmann::json ResolveBlock(const nlohmann::json& in, const BlockSpec& spec, Diagnostics& diag);

// Checks and converts one value to `kind` ("expected ..." error to diag on mismatch): integral
// doubles become integers, numbers become doubles for kNumber. With `lax` (the blocks DeepSpeed
// validates with pydantic, whose lax mode does the same) numeric strings ("0", "2e8") convert to
// numbers and "true"/"false"/"yes"/"no"/"on"/"off"/"1"/"0" to booleans. Returns null on error.
nlohmann::json CoerceValue(const nlohmann::json& value, ValueKind kind, const std::string& path,
                           Diagnostics& diag, bool lax = false);

// Keys the newest DeepSpeed (0.19.8) removed and now rejects with a DeepSpeedConfigError even
// when disabled: the message for `key` in `block` ("" or "zero_optimization"), or nullptr.
const char* RemovedKeyMessage(const std::string& block, const std::string& key);

// Path join: JoinPath("", "a") == "a", JoinPath("a", "b") == "a.b".
std::string JoinPath(const std::string& parent, const std::string& key);

// A value as it appears in messages: strings quoted, numbers as DeepSpeed would print them.
std::string ShowValue(const nlohmann::json& value);

}  // namespace zt::configs
