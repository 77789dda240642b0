#include "scripts.h"

namespace fh {

// Stream IDs are "<ms>-<seq>". Lua numbers are doubles: exact up to 2^53,
// which holds every millisecond time; a larger seq part falls back to the
// ID itself, which keeps one entry more than needed, never one less.
static const char kGroupsLua[] = R"lua(
local function id_parts(id)
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(sq)
end
local function id_less(a, b)
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  return am < bm or (am == bm and as < bs)
end
local function next_id(id)
  local ms, sq = id_parts(id)
  if sq >= 9007199254740992 then return id end
  return string.format('%.0f-%.0f', ms, sq + 1)
end
-- An ACL refusal inside a script reads "ERR ... can't run this command":
-- raise it as NOPERM naming the command, so the writer can say what to grant.
local function refused(msg, what)
  if string.find(msg, "can't run this command", 1, true) or string.find(msg, 'permission', 1, true) then
    error({err = 'NOPERM the Redis user may not run ' .. what .. ' (' .. msg .. ')'})
  end
end
local function guard(what, ...)
  local ok, r = pcall(redis.call, ...)
  if ok then return r end
  refused(type(r) == 'table' and r.err or tostring(r), what)
  error(r)
end
-- Every group of the stream: where it stands, whether it counts, and the
-- oldest entry any counted group still needs (pending, or not delivered).
-- The stream's own counters (below) go with every reply, groups or not:
-- from them the writer estimates a group's backlog when Redis cannot give
-- its lag (nil after deletions, and for a group created at '$' until it
-- catches up), and a group created later finds samples from before it.
local function scan_groups(stream, sel, names, out)
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', stream)
  if not ok then
    local msg = type(groups) == 'table' and groups.err or tostring(groups)
    if string.find(msg, 'no such key', 1, true) then return nil end
    refused(msg, 'XINFO GROUPS on ' .. stream .. ' (pacing by consumer groups needs it; or set REDIS_TRIM=maxlen)')
    error(groups)
  end
  local floor = nil
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    local name = f['name']
    local counted = (sel == 'all') ~= (names[name] == true)
    local pending = tonumber(f['pending']) or 0
    local lag = f['lag']
    if counted then
      local need = next_id(f['last-delivered-id'])
      if pending > 0 then
        local p = guard('XPENDING on ' .. stream .. ' (pacing by consumer groups needs it; or set REDIS_TRIM=maxlen)',
                        'XPENDING', stream, name)
        if p[2] and id_less(p[2], need) then need = p[2] end
      end
      if not floor or id_less(need, floor) then floor = need end
    end
    out[#out + 1] = name
    out[#out + 1] = lag and tonumber(lag) or -1
    out[#out + 1] = pending
    out[#out + 1] = counted and 1 or 0
    out[#out + 1] = f['last-delivered-id']
  end
  return floor
end
-- The stream's first entry ID, newest ID and count of entries ever added.
local function counters(stream, out)
  local ok, info = pcall(redis.call, 'XINFO', 'STREAM', stream)
  if not ok then
    out[#out + 1] = '0-0'; out[#out + 1] = '0-0'; out[#out + 1] = 0
    return
  end
  local s = {}
  for i = 1, #info, 2 do s[info[i]] = info[i + 1] end
  out[#out + 1] = s['first-entry'] and s['first-entry'][1] or '0-0'
  out[#out + 1] = s['last-generated-id']
  out[#out + 1] = s['entries-added']
end
local function read_names(at)
  local names = {}
  local k = tonumber(ARGV[at])
  for i = 1, k do names[ARGV[at + i]] = true end
  return names, at + k + 1
end
)lua";

const std::string kBatchScript = std::string(kGroupsLua) + R"lua(
local holder = redis.call('GET', KEYS[3])
if holder ~= ARGV[1] then return redis.error_reply('FENCED lease ' .. (holder or '')) end
local cursor = redis.call('GET', KEYS[2]) or ''
if cursor ~= ARGV[3] then return redis.error_reply('FENCED cursor ' .. cursor) end
local fence = redis.call('GET', KEYS[4]) or ''
if fence ~= ARGV[4] then return redis.error_reply('FENCED fence ' .. fence) end
local trim, cap = ARGV[6], tonumber(ARGV[7])
local names, at = read_names(9)
local groups = {}
local floor = nil
if trim == 'groups' then floor = scan_groups(KEYS[1], ARGV[8], names, groups) end
local recent_at, recent, status_at, status = tonumber(ARGV[at]), ARGV[at + 1], tonumber(ARGV[at + 2]), ARGV[at + 3]
local ttl, channel, m = ARGV[at + 4], ARGV[at + 5], tonumber(ARGV[at + 6])
local first_msg = at + 7
-- Scripts are not rolled back: every write that an ACL may refuse is tried
-- before the first change (SET ... XX with the value the key already holds
-- changes nothing), so that a refusal leaves nothing half-written.
guard('SET on ' .. KEYS[2], 'SET', KEYS[2], ARGV[3], 'XX')
guard('SET on ' .. KEYS[4], 'SET', KEYS[4], ARGV[4], 'XX')
local last = ''
local added = 0
for i = first_msg + m, #ARGV, 3 do
  if added == 0 then
    last = guard('XADD on ' .. KEYS[1], 'XADD', KEYS[1], '*', 'type', ARGV[i], 'data', ARGV[i + 1], 'seq', ARGV[i + 2])
  else
    last = redis.call('XADD', KEYS[1], '*', 'type', ARGV[i], 'data', ARGV[i + 1], 'seq', ARGV[i + 2])
  end
  added = added + 1
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5]) end
if last ~= '' then redis.call('SET', KEYS[4], last) end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
-- The groups were read before the entries went in: count those too.
for i = 2, #groups, 5 do
  if groups[i] >= 0 then groups[i] = groups[i] + added end
end
-- From here on the batch is written: a failure is reported, never raised.
local dash = ''
local function try(...)
  local ok, e = pcall(redis.call, ...)
  if not ok and dash == '' then dash = type(e) == 'table' and e.err or tostring(e) end
end
if trim ~= 'none' then
  local len = redis.call('XLEN', KEYS[1])
  if len > cap then
    if trim == 'maxlen' or not floor then
      try('XTRIM', KEYS[1], 'MAXLEN', '~', cap)
    else
      try('XTRIM', KEYS[1], 'MINID', '~', floor, 'LIMIT', len - cap)
    end
  end
end
if recent_at > 0 and recent ~= '' then try('SETEX', KEYS[recent_at], ttl, recent) end
if status_at > 0 and status ~= '' then try('SETEX', KEYS[status_at], ttl, status) end
if channel ~= '' then
  for i = first_msg, first_msg + m - 1 do try('PUBLISH', channel, ARGV[i]) end
end
local reply = {last, redis.call('XLEN', KEYS[1]), dash}
if trim == 'groups' then counters(KEYS[1], reply) end
for i = 1, #groups do reply[#reply + 1] = groups[i] end
return reply
)lua";

const std::string kGroupsScript = std::string(kGroupsLua) + R"lua(
local names = read_names(2)
local groups = {}
scan_groups(KEYS[1], ARGV[1], names, groups)
local reply = {redis.call('XLEN', KEYS[1])}
counters(KEYS[1], reply)
for i = 1, #groups do reply[#reply + 1] = groups[i] end
return reply
)lua";

const std::string kLeaseScript = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, cur, tonumber(ARGV[3])}
end
if not cur or (ARGV[4] == 'start' and string.sub(cur, 1, #ARGV[2]) == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return {1, ARGV[1], tonumber(ARGV[3])}
end
return {0, cur, redis.call('PTTL', KEYS[1])}
)lua";

const std::string kRepairScript = R"lua(
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4])
return 1
)lua";

}  // namespace fh
