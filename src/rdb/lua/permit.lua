-- permit.lua: takes one extra slot of the queue's rate limit, for a job that makes a second
-- upstream call in the same run (its claim already took the first slot).
-- KEYS[1] rate  KEYS[2] throttle  KEYS[3] seq
-- ARGV[1] rate limit per window (0 = none)  ARGV[2] rate window ms
-- Returns 0 when granted, otherwise the ms to wait before asking again.

local now = now_ms()
local pttl = redis.call('PTTL', KEYS[2])
if pttl > 0 then return pttl end
local granted, wait = rate_take(KEYS[1], now, tonumber(ARGV[1]), tonumber(ARGV[2]), 1)
if granted == 0 then return wait end
if tonumber(ARGV[1]) > 0 then
  redis.call('ZADD', KEYS[1], now, 'p' .. redis.call('INCR', KEYS[3]))
end
return 0
