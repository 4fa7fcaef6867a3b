-- account_take.lua: takes up to N slots of an upstream account's rate limit, shared by every
-- queue and worker process that calls the upstream with this account. The limit is stored
-- here: the first worker's config sets it, later ones read it (and warn if theirs differs).
-- While the account's daily budget holds it, nothing is granted and the reason is returned.
-- KEYS[1] rate  KEYS[2] throttle  KEYS[3] limit  KEYS[4] seq  KEYS[5] hold
-- ARGV[1] slots wanted  ARGV[2] this worker's limit per window (0 = none)  ARGV[3] window ms
-- Returns {stored limit (0 = none), ms to wait when none was granted, slots granted,
--          the hold's reason ('' when not held), then the slot ids (none when there is no
--          limit)}.

local want, mine, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (want and mine and window) then return redis.error_reply('account_take: non-numeric argument') end
local stored = tonumber(redis.call('GET', KEYS[3]) or '')
if stored == nil then
  stored = mine
  redis.call('SET', KEYS[3], mine)
end
local held = redis.call('GET', KEYS[5])
if held then return {stored, 0, 0, held} end
local pttl = redis.call('PTTL', KEYS[2])
if pttl > 0 then return {stored, pttl, 0, ''} end
local now = now_ms()
local granted, wait = rate_take(KEYS[1], now, stored, window, want)
local out = {stored, wait, granted, ''}
if stored > 0 and granted > 0 then
  local last = redis.call('INCRBY', KEYS[4], granted)
  local members = {}
  for i = 1, granted do
    local id = 's' .. (last - granted + i)
    members[#members + 1] = now; members[#members + 1] = id
    out[#out + 1] = id
  end
  call_sliced('ZADD', KEYS[1], members, 2)
end
return out
