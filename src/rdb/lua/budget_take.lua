-- budget_take.lua: takes paid-call slots of an account's daily budget (UTC days, Redis time),
-- atomically, so N workers never exceed it together: up to ARGV[3] slots at once (a worker
-- gathers the paid calls that are about to be made while its last take is in flight: one
-- round trip for all of them). When the budget is spent, every queue of the account is held
-- (`hold`, with the reason, until the next UTC midnight), unless an operator lifted today's
-- hold.
-- KEYS[1] budget (`<day>|<count>`)  KEYS[2] hold  KEYS[3] lifted
-- ARGV[1] paid calls per day (0 = no budget)  ARGV[2] the hold's reason
-- ARGV[3] slots asked (1 when absent)
-- Returns {slots granted (the first asks get them), slots taken today}.

local limit, want = tonumber(ARGV[1]), tonumber(ARGV[3] or '1')
if not (limit and want) then return redis.error_reply('budget_take: non-numeric limit') end
local now = now_ms()
local day = math.floor(now / 86400000)
local stored = redis.call('GET', KEYS[1]) or ''
local d, n = string.match(stored, '^(%d+)|(%d+)$')
local count = 0
if tonumber(d) == day then count = tonumber(n) end
local granted = want
if limit > 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  granted = math.max(math.min(want, limit - count), 0)
end
if granted < want then
  local midnight = (day + 1) * 86400000
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], ARGV[2], 'PXAT', midnight)
  end
end
if granted > 0 then
  count = count + granted
  redis.call('SET', KEYS[1], day .. '|' .. count, 'PX', 2 * 86400000)
end
return {granted, count}
