-- budget_give_back.lua: gives a paid-call slot back to today's budget (the call turned out
-- not to be charged: a definite error, or a 204).
-- KEYS[1] budget (`<day>|<count>`)
-- Returns the slots taken today after it.

local now = now_ms()
local day = math.floor(now / 86400000)
local d, n = string.match(redis.call('GET', KEYS[1]) or '', '^(%d+)|(%d+)$')
if tonumber(d) ~= day or tonumber(n) == 0 then return 0 end
local count = tonumber(n) - 1
redis.call('SET', KEYS[1], day .. '|' .. count, 'PX', 2 * 86400000)
return count
