-- trim.lua: enforces the dead set's TTL and cap, and drops completed jobs past their retention.
-- Bounded: at most ARGV[4] ids of each kind per call; callers loop while a count equals it.
-- KEYS[1] dead  KEYS[2] dead_index  KEYS[3] completed (list of `finished_ms|id id …`, one entry
--   per call that finished jobs)  KEYS[4] stats
-- KEYS[5..12] the eight job column hashes, in keys.rs `job_columns` order (dindex last)
-- KEYS[13] ident  KEYS[14] minutes
-- ARGV[1] dead cap (0 = none)  ARGV[2] dead TTL ms (0 = none)  ARGV[3] completed retention ms
-- ARGV[4] max ids per kind (<= 1000)  ARGV[5] per-minute counters kept (minutes)
-- Completed here means finished: completed and cancelled jobs share the retention list.
-- Returns {dead trimmed by TTL, dead trimmed by cap, completed removed}.

local cap, ttl, keep, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local minutes = tonumber(ARGV[5])
if not (cap and ttl and keep and limit and minutes) then return redis.error_reply('trim: non-numeric argument') end
local now = now_ms()
-- Per-minute counters older than the window go (at most two fields per minute are kept).
local oldest = math.floor(now / 60000) - minutes
local stale = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[14])) do
  local m = tonumber(string.match(f, '^(%d+)|'))
  if not m or m < oldest then stale[#stale + 1] = f end
end
call_sliced('HDEL', KEYS[14], stale, 1)
local old = {}
if ttl > 0 then
  old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl, 'LIMIT', 0, limit)
end
local over = {}
if cap > 0 then
  local excess = redis.call('ZCARD', KEYS[1]) - #old - cap
  if excess > 0 then
    over = redis.call('ZRANGE', KEYS[1], #old, #old + math.min(excess, limit) - 1)
  end
end
local gone = {}
for _, list in ipairs({old, over}) do
  for _, id in ipairs(list) do
    undead(KEYS[1], KEYS[2], KEYS[12], id)
    gone[#gone + 1] = id
  end
end
if #gone > 0 then
  unindex(KEYS[13], KEYS[5], gone)
  delete_columns(5, gone)
  redis.call('HINCRBY', KEYS[4], 'dead_trimmed', #gone)
end
-- `completed` is appended in finish order and completed is final, so the expired are a prefix.
local cutoff = string.format('%015.0f', now - keep)
-- An entry not shaped `<15 digits>|ids` (written by something else) is dropped without
-- touching any job, so it can never stall the sweep. Whole entries go, about `limit` ids a call.
local finished, popped = {}, 0
for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, limit - 1)) do
  if #finished >= limit then break end
  local shaped = string.find(entry, '^%d+|') == 1 and string.sub(entry, 16, 16) == '|'
  if shaped and string.sub(entry, 1, 15) > cutoff then break end
  popped = popped + 1
  if shaped then
    for id in string.gmatch(string.sub(entry, 17), '[^ ]+') do finished[#finished + 1] = id end
  end
end
if popped > 0 then redis.call('LTRIM', KEYS[3], popped, -1) end
if #finished > 0 then
  unindex(KEYS[13], KEYS[5], finished)
  delete_columns(5, finished)
end
return {#old, #over, #finished}
