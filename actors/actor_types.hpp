#pragma once
// The typed handles of failcat's actors: each actor's contract is the message set below.
// Only actors/*.cpp include this (CAF headers are heavy); the API talks to FailureService.

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/jobs.hpp"

namespace failcat {

using ingest_atom = caf::atom_constant<caf::atom("ingest")>;
using match_atom = caf::atom_constant<caf::atom("match")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using checkpt_atom = caf::atom_constant<caf::atom("checkpt")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using persist_atom = caf::atom_constant<caf::atom("persist")>;
using insert_atom = caf::atom_constant<caf::atom("insert")>;
using call_atom = caf::atom_constant<caf::atom("call")>;
using breaker_atom = caf::atom_constant<caf::atom("breaker")>;
using recover_atom = caf::atom_constant<caf::atom("recover")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;

/// Matches ingested failures against the catalog snapshot and forwards them to the persister.
using matcher_actor = caf::typed_actor<caf::reacts_to<ingest_atom, IngestJobPtr>,
                                       caf::reacts_to<match_atom, MatchJobPtr>>;

/// Owns the WAL: appends and group-commits (a linked syncer actor runs each group's fsync and
/// then answers its requests; a second one writes the checkpoints), and drains to the
/// database in batches.
using persister_actor = caf::typed_actor<caf::reacts_to<ingest_atom, IngestJobPtr>,
                                         caf::reacts_to<ingest_atom, IngestJobBatch>,
                                         caf::reacts_to<flush_atom>, caf::reacts_to<checkpt_atom>,
                                         caf::replies_to<drain_atom, Micros>::with<std::uint64_t>>;

/// Guards the database: admits persists per the circuit breaker, bounds each by a timeout.
using breaker_actor =
    caf::typed_actor<caf::replies_to<persist_atom, PersistBatchPtr>::with<PersistOutcome>,
                     caf::reacts_to<breaker_atom, BreakerCommandPtr>>;

/// Owns one database connection; runs on its own thread (blocking I/O).
using storage_actor =
    caf::typed_actor<caf::replies_to<insert_atom, PersistBatchPtr>::with<PersistOutcome>,
                     caf::replies_to<call_atom, StoreCallPtr>::with<bool>>;

/// Forwards reads and recovery changes to the storage pool with a deadline; recovery changes
/// also bump the recovery counters.
using gateway_actor = caf::typed_actor<caf::reacts_to<call_atom, StoreCallPtr>,
                                       caf::reacts_to<recover_atom, RecoveryJobPtr>>;

/// Periodic jobs: hourly rollups, NDJSON exports, retention, miss-rate alerts.
using aggregator_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

}  // namespace failcat

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::IngestJobPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::IngestJobBatch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::PersistBatchPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::PersistOutcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::StoreCallPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::MatchJobPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::RecoveryJobPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::BreakerCommandPtr)
