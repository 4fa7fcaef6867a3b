-- throttle.lua: stops every worker of the queue from claiming for ARGV[1] ms (never shortens
-- a throttle already in place). Used when the upstream API answers "too many requests".
-- KEYS[1] throttle
-- ARGV[1] ms
-- Returns the throttle's remaining ms.

local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  left = ms
end
return left
