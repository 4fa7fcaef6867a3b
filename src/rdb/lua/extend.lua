-- extend.lua: the lease keeper's call. Pushes the deadline of the leases a worker process still
-- holds and, in the last call of a round, stamps the process as alive (Redis time). Reapers
-- read the stamp: a holder stamped after a lease's deadline does not hold it any more; a holder
-- stamped recently is alive and gets a grace period.
-- KEYS[1] running  KEYS[2] lease  KEYS[3] workers
-- ARGV[1] lease ms  ARGV[2] process id to stamp ('' = no stamp in this call)
-- then 2 values per lease: id, token
-- Returns {now, then the 1-based positions of the leases this process no longer holds}.

local lease_ms = tonumber(ARGV[1])
if not lease_ms then return redis.error_reply('extend: non-numeric lease') end
local now = now_ms()
local deadline = now + lease_ms
local keep, out = {}, {now}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lease = redis.call('HGET', KEYS[2], id)
  if lease and string.sub(lease, 1, #token + 1) == token .. '|' then
    keep[#keep + 1] = deadline; keep[#keep + 1] = id
  else
    out[#out + 1] = (i - 1) / 2
  end
end
call_sliced('ZADD', KEYS[1], keep, 2, 'XX')
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[3], now, ARGV[2]) end
return out
