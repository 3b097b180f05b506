#include "actors/jobs.hpp"

namespace failcat {

IngestJob::IngestJob(std::vector<FailureInput> in, std::vector<std::optional<std::string>> k,
                     Callback done, Prepare prepare)
    : inputs(std::move(in)),
      keys(std::move(k)),
      done_(std::move(done)),
      prepare_(std::move(prepare)) {
  keys.resize(inputs.size());
}

IngestJob::~IngestJob() {
  // Dropped without an answer: an actor holding it went away. The failures were never
  // acknowledged, so the caller may safely retry.
  if (!completed_.exchange(true) && done_) {
    done_(Error::unavailable("the failure was not accepted; retry"));
  }
}

void IngestJob::complete(Result<IngestOutcome> outcome) {
  if (completed_.exchange(true)) return;
  if (done_) done_(outcome);
}

void IngestJob::succeed() {
  if (completed_.exchange(true)) return;
  Result<IngestOutcome> answer(std::move(outcome));
  if (done_) done_(answer);
  outcome = std::move(*answer);
}

}  // namespace failcat
