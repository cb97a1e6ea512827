#include "configs/training_arguments_cli.h"

#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace zt::configs {

void AddTrainingArgumentOptions(CLI::App& app, TrainingArguments* args) {
  CLI::App* group = app.add_option_group("Training arguments");
  const TrainingArguments defaults;
  for (const ArgumentSpec& spec : TrainingArgumentSpecs()) {
    const std::string name = spec.name;
    const bool is_bool = spec.type() == ArgumentType::kBool;
    auto apply = [args, name, is_bool](const std::string& text) {
      // A bare bool flag arrives as an empty value.
      absl::Status status = SetArgument(*args, name, is_bool && text.empty() ? "true" : text);
      if (!status.ok()) throw CLI::ValidationError(std::string(status.message()));
    };
    std::string help = spec.help;
    if (*spec.choices != '\0') {
      absl::StrAppend(&help, " {", absl::StrReplaceAll(spec.choices, {{"|", ","}}), "}");
    }
    // CLI11 would pass default_str as the value of a bare optional-value flag, so the default
    // goes into the help text instead.
    absl::StrAppend(&help, " [default: ", ArgumentValueText(defaults, spec), "]");
    CLI::Option* option = group->add_option_function<std::string>("--" + name, apply, help);
    // argparse's rule, which HF users rely on: a repeated flag's last value wins (so flags
    // after a job file's arguments override them).
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    switch (spec.type()) {
      case ArgumentType::kBool: option->type_name("[BOOL]")->expected(0, 1); break;
      case ArgumentType::kInt: option->type_name("INT"); break;
      case ArgumentType::kFloat: option->type_name("FLOAT"); break;
      case ArgumentType::kString: option->type_name("TEXT"); break;
    }
  }
}

}  // namespace zt::configs
