#include "load/failure_rows.hpp"

#include <stdexcept>

#include "core/failure_json.hpp"
#include "core/request_parsing.hpp"
#include "core/uuid.hpp"

namespace failcat::load {

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
