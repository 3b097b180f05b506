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

Error IngestJob::key_reused(std::size_t i) const {
  const bool own = i < inputs.size() && inputs[i].event_id.has_value();
  const std::string field = inputs.size() > 1 && own
                                ? "failures[" + std::to_string(i) + "].event_id"
                            : own ? "event_id"
                                  : "Idempotency-Key";
  std::string message = field + " already names a different failure";
  if (inputs.size() > 1) message += " (failures[" + std::to_string(i) + "])";
  message += "; a retry must send the same failure, a new failure needs a new key";
  return Error{ErrorKind::key_reused, std::move(message), field};
}

void IngestJob::succeed() {
  if (completed_.exchange(true)) return;
  Result<IngestOutcome> answer(std::move(outcome));
  if (done_) done_(answer);
  outcome = std::move(*answer);
}

MatchJob::MatchJob(FailureInput in, Done done, Refused refused, std::function<void()> release)
    : input(std::move(in)),
      done_(std::move(done)),
      refused_(std::move(refused)),
      release_(std::move(release)) {}

MatchJob::~MatchJob() {
  refuse(Error::unavailable("the match was not answered; retry"));
}

// The in-flight slot is freed before the caller hears, so a caller that sends its next match
// on hearing finds the slot free (as an ingest's is).
void MatchJob::answer(const MatchResult& m, const Catalog& catalog) {
  if (answered_.exchange(true)) return;
  if (release_) release_();
  if (done_) done_(input, m, catalog);
}

void MatchJob::refuse(const Error& error) {
  if (answered_.exchange(true)) return;
  if (release_) release_();
  if (refused_) refused_(error);
}

}  // namespace failcat
