// The writer's server-side helpers, as Lua scripts (EVALSHA; Redis 7.0 and
// Valkey 8 run them atomically). The batches themselves are MULTI/EXEC
// (batch.h). Their replies are read by core.cc, lease.cc and pacing.cc; the
// unit tests' fake Redis implements the same contract.
#pragma once

#include <string>

namespace fh {

// The consumer groups, and the trim they allow. It runs inside each
// batch's transaction, after the entries, so that a group created a moment
// ago is seen by the trim; and alone (cap 0) while the writer waits for
// the groups. It trims the stream to the cap, but never past the oldest
// entry a counted group still needs (pending, or not delivered yet); with
// no counted group, MAXLEN ~ cap.
// KEYS stream; ARGV cap (0: read only), selection ('all': every group but
// the names; 'only': the names), k, k names.
// Reply: {xlen, the stream's first entry id, last generated id and entries
// added (groups or not), then per group name, undelivered (-1: Redis cannot
// tell), pending, counted (1/0), last delivered id}. An ACL refusing XINFO or XPENDING fails it with
// "NOPERM the Redis user may not run XINFO GROUPS on <stream> (...)".
extern const std::string kGroupsScript;

// Takes or renews the lease. KEYS lease; ARGV holder ("<id> <token>"),
// "<id> ", ttl ms, mode ('start': a holder with our instance id is ours
// too, as after a restart; 'take': only a free lease).
// Reply: {1, holder, ttl} when held, {0, holder, pttl} when not.
extern const std::string kLeaseScript;

// Checks the writer's seams (commit.h), read only: KEYS stream; ARGV per
// seam: start (exclusive, or '-'), end, entries. Reply per seam: {entries
// now in the range, seq of the first extra one, seq of the last extra one}
// (extra: the ones before the batch's own; '' when none).
extern const std::string kSeamScript;

// Adopts the stream's tail after Redis replayed part of a transaction:
// KEYS cursor, fence; ARGV expected cursor, expected fence, new cursor,
// new fence. Reply: 1 when applied, 0 when the keys had moved.
extern const std::string kRepairScript;

}  // namespace fh
