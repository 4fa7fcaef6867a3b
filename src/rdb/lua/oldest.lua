-- oldest.lua: the oldest ready job's record and history, with the Redis time (read-only), so
-- the queue latency is one call.
-- KEYS[1] ready  KEYS[2] job  KEYS[3] history
-- Returns {now ms, record or '', history or ''} ({now} when nothing is ready).

local now = now_ms()
local id = redis.call('LINDEX', KEYS[1], -1)
if not id then return {now} end
return {now, redis.call('HGET', KEYS[2], id) or '', redis.call('HGET', KEYS[3], id) or ''}
