-- not_found.lua: the drain guard's count of a `not_found` answer, in one step with its check.
-- While the queue is paused by the circuit breaker or the drain guard (any reason but an
-- operator's), the answer is not counted and the caller gives its job back (an answer that
-- arrives after the pause must not bury its job). Otherwise the streak grows, and reaching the
-- guard pauses the queue with the reason.
-- KEYS[1] not_found  KEYS[2] paused
-- ARGV[1] the guard (consecutive not_found that pause; 0 = off)  ARGV[2] the pause's reason
-- ARGV[3] the reason an operator's pause has
-- Returns {'held', reason} | {'counted', streak} | {'tripped', streak}.

local guard = tonumber(ARGV[1])
if not guard then return redis.error_reply('not_found: non-numeric guard') end
local paused = redis.call('GET', KEYS[2])
if paused and paused ~= ARGV[3] then return {'held', paused} end
local n = redis.call('INCR', KEYS[1])
if guard > 0 and n >= guard and not paused then
  redis.call('SET', KEYS[2], ARGV[2], 'NX')
  return {'tripped', n}
end
return {'counted', n}
