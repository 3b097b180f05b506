#include "load/failure_rows.hpp"

#include <stdexcept>

#include "core/failure_json.hpp"
#include "core/request_parsing.hpp"
#include "core/uuid.hpp"

namespace failcat::load {

std::shared_ptr<const Catalog> catalog_argument(const Arguments& args) {
  auto loaded = load_catalog_file(args.text("catalog", "config/failure_catalog.json"));
  if (!loaded.ok()) throw UsageError("--catalog: " + describe(loaded.problems.front()));
  return loaded.catalog;
}

GeneratorOptions generator_arguments(const Arguments& args) {
  GeneratorOptions o;
  o.seed = static_cast<std::uint64_t>(args.integer("seed", 1, 0, INT64_MAX));
  o.miss_ratio = args.number("miss-ratio", 0.1, 0.0, 1.0);
  return o;
}

std::vector<FailureInput> generate_inputs(const std::shared_ptr<const Catalog>& catalog,
                                          const GeneratorOptions& options, std::size_t count) {
  FailureGenerator generator(catalog, options);
  std::vector<FailureInput> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto g = generator.next();
    g.line.erase("created_at");
    auto input = parse_failure_input(g.line, "");
    if (!input) throw std::runtime_error("generated an invalid failure: " + input.error().message);
    out.push_back(std::move(*input));
  }
  return out;
}

std::vector<FailureRecord> make_rows(const std::vector<FailureInput>& inputs,
                                     const Catalog& catalog, Micros now) {
  UuidV7Generator ids;
  std::vector<FailureRecord> rows;
  rows.reserve(inputs.size());
  for (const auto& in : inputs) {
    FailureRecord r = to_failure_record(in, ids.next(now / 1000), now);
    apply_match(r, catalog.matcher().match(in.error_code, in.error_message.value_or("")));
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace failcat::load
