#pragma once

#include <memory>
#include <vector>

#include "core/catalog.hpp"
#include "core/failure.hpp"
#include "core/request_parsing.hpp"
#include "load/arguments.hpp"
#include "load/synthetic_failures.hpp"

namespace failcat::load {

/// The catalog `--catalog` names (default config/failure_catalog.json); throws UsageError
/// naming the flag and the first problem when it does not load.
std::shared_ptr<const Catalog> catalog_argument(const Arguments& args);

/// Generator options from `--seed` (default 1) and `--miss-ratio` (default 0.1).
GeneratorOptions generator_arguments(const Arguments& args);

/// `count` generated failures, validated as the API validates a body (`parse_failure_input`).
std::vector<FailureInput> generate_inputs(const std::shared_ptr<const Catalog>& catalog,
                                          const GeneratorOptions& options, std::size_t count);

/// The rows the pipeline would store for `inputs` at time `now`: matched against `catalog`,
/// UUIDv7 ids, default tenant where none is given. Baselines write exactly these.
std::vector<FailureRecord> make_rows(const std::vector<FailureInput>& inputs,
                                     const Catalog& catalog, Micros now);

}  // namespace failcat::load
