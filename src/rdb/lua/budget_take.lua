-- budget_take.lua: takes one paid-call slot of an account's daily budget (UTC days, Redis
-- time), atomically, so N workers never exceed it together. When the budget is spent, every
-- queue of the account is held (`hold`, with the reason, until the next UTC midnight), unless
-- an operator lifted today's hold.
-- KEYS[1] budget (`<day>|<count>`)  KEYS[2] hold  KEYS[3] lifted
-- ARGV[1] paid calls per day (0 = no budget)  ARGV[2] the hold's reason
-- Returns {1 granted | 0 refused, slots taken today}.

local limit = tonumber(ARGV[1])
if not limit then return redis.error_reply('budget_take: non-numeric limit') end
local now = now_ms()
local day = math.floor(now / 86400000)
local stored = redis.call('GET', KEYS[1]) or ''
local d, n = string.match(stored, '^(%d+)|(%d+)$')
local count = 0
if tonumber(d) == day then count = tonumber(n) end
if limit > 0 and count >= limit and redis.call('EXISTS', KEYS[3]) == 0 then
  local midnight = (day + 1) * 86400000
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], ARGV[2], 'PXAT', midnight)
  end
  return {0, count}
end
count = count + 1
redis.call('SET', KEYS[1], day .. '|' .. count, 'PX', 2 * 86400000)
return {1, count}
