// The server-side halves of the writer, as Lua scripts (EVALSHA; Redis
// 7.0 and Valkey 8 run them atomically). Their arguments are laid out by
// batch.cc and lease.cc; their replies are read by commit.cc, lease.cc and
// pacing.cc. The unit tests' fake Redis implements the same contract.
#pragma once

#include <string>

namespace fh {

// A fenced batch. It applies only when the lease is this instance's and
// the cursor and fence keys still hold what the batch was built after;
// otherwise it writes nothing and fails with
//   FENCED lease <holder> | FENCED cursor <value> | FENCED fence <value>
// Then: the consumer groups are read (before any write, so that a refusal
// leaves nothing behind), the entries are added, the cursor and fence set,
// the stream trimmed as the policy allows, the lease renewed, and the
// dashboard written (its failures are reported, never fatal).
//
// KEYS: stream, cursor, lease, fence [, recent] [, status]
// ARGV: holder, lease ttl ms, expected cursor, expected fence, new cursor
//       ('' keeps it), trim ('groups' | 'maxlen' | 'none'), cap,
//       selection ('all': every group but the names; 'only': the names),
//       k, k names, recent key index (0: none), recent JSON, status key
//       index, status JSON, dashboard ttl s, channel ('' none), m, m
//       messages, then type, data, seq per entry.
// Reply: {last entry id or '', xlen, trim or dashboard error or '', and with
//         trim 'groups': first entry id, last generated id, entries added
//         (the stream's counters, groups or not), then per group name,
//         undelivered (-1: Redis cannot tell), pending, counted (1/0), last
//         delivered id}
// An ACL refusing XINFO or XPENDING fails it with "NOPERM the Redis user may
// not run XINFO GROUPS on <stream> (...)" before anything is written.
extern const std::string kBatchScript;

// The consumer groups, read only: KEYS stream; ARGV selection, k, names.
// Reply: {xlen, then as the batch reply from the first entry id on}.
extern const std::string kGroupsScript;

// Takes or renews the lease. KEYS lease; ARGV holder ("<id> <token>"),
// "<id> ", ttl ms, mode ('start': a holder with our instance id is ours
// too, as after a restart; 'take': only a free lease).
// Reply: {1, holder, ttl} when held, {0, holder, pttl} when not.
extern const std::string kLeaseScript;

// Adopts the stream's tail after Redis replayed part of a transaction:
// KEYS cursor, fence; ARGV expected cursor, expected fence, new cursor,
// new fence. Reply: 1 when applied, 0 when the keys had moved.
extern const std::string kRepairScript;

}  // namespace fh
