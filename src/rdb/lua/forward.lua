-- forward.lua: moves due scheduled jobs to ready (waking the workers) and says how long until
-- the next one is due (Redis time), so a worker process can sleep exactly that long.
-- KEYS[1] scheduled  KEYS[2] ready  KEYS[3] wake
-- ARGV[1] max jobs to move (<= 1000)
-- Returns ms until the earliest remaining due time (0 = more are due now), or -1 when nothing
-- is scheduled.

local max = tonumber(ARGV[1])
if not max then return redis.error_reply('forward: non-numeric limit') end
local now = now_ms()
promote(KEYS[1], KEYS[2], KEYS[3], now, max)
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #head == 0 then return -1 end
return math.max(0, tonumber(head[2]) - now)
