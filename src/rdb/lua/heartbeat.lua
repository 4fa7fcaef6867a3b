-- heartbeat.lua: publishes a worker process's description and drops registrations of
-- processes not stamped for a long time. The liveness stamp itself comes from the lease keeper
-- (extend.lua); this only registers a new process (ZADD NX) so it is listed at once.
-- KEYS[1] workers  KEYS[2] worker_info
-- ARGV[1] process id  ARGV[2] description JSON  ARGV[3] prune registrations older than this (ms)
-- Returns {now, number pruned}.

local age = tonumber(ARGV[3])
if not age then return redis.error_reply('heartbeat: non-numeric age') end
local now = now_ms()
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - age))
if #stale > 0 then
  call_sliced('ZREM', KEYS[1], stale, 1)
  call_sliced('HDEL', KEYS[2], stale, 1)
end
return {now, #stale}
