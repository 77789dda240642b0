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

const std::string kGroupsScript = std::string(kGroupsLua) + R"lua(
local cap = tonumber(ARGV[1])
local names = read_names(3)
local groups = {}
local floor = scan_groups(KEYS[1], ARGV[2], names, groups)
local len = guard('XLEN on ' .. KEYS[1], 'XLEN', KEYS[1])
if cap > 0 and len > cap then
  local what = 'XTRIM on ' .. KEYS[1]
  if floor then
    guard(what, 'XTRIM', KEYS[1], 'MINID', '~', floor, 'LIMIT', len - cap)
  else
    guard(what, 'XTRIM', KEYS[1], 'MAXLEN', '~', cap)
  end
  len = redis.call('XLEN', KEYS[1])
end
local reply = {len}
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

const std::string kSeamScript = R"lua(
local function seq(e)
  for i = 1, #e[2], 2 do
    if e[2][i] == 'seq' then return e[2][i + 1] end
  end
  return ''
end
local out = {}
for i = 1, #ARGV, 3 do
  local r = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i + 1])
  local extra = #r - tonumber(ARGV[i + 2])
  if extra > 0 then
    out[#out + 1] = {#r, seq(r[1]), seq(r[extra])}
  else
    out[#out + 1] = {#r, '', ''}
  end
end
return out
)lua";

const std::string kRepairScript = R"lua(
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4])
return 1
)lua";

}  // namespace fh
