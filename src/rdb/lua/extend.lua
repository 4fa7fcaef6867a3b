-- extend.lua: the lease keeper's call. Pushes the deadline of the claims a worker process still
-- holds jobs of and, in the last call of a round, stamps the process as alive (Redis time).
-- Reapers read the stamp: a holder stamped after a claim's deadline does not hold it any more;
-- a holder stamped recently is alive and gets a grace period.
-- KEYS[1] running  KEYS[2] lease  KEYS[3] workers
-- ARGV[1] lease ms  ARGV[2] process id to stamp ('' = no stamp in this call)
-- then 2 values per held job: id, its claim's token
-- Returns {now, then the 1-based positions of the jobs this process no longer holds (their
-- lease is gone or names another claim)}.

local lease_ms = tonumber(ARGV[1])
if not lease_ms then return redis.error_reply('extend: non-numeric lease') end
local now = now_ms()
local deadline = now + lease_ms
local ids = {}
for i = 3, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local leases = hmget_sliced(KEYS[2], ids)
local claims, keep, out = {}, {}, {now}
for i = 3, #ARGV, 2 do
  local k = (i - 1) / 2
  local claim = ARGV[i + 1]
  if leases[k] == claim then
    if not claims[claim] then
      claims[claim] = true
      keep[#keep + 1] = deadline; keep[#keep + 1] = claim
    end
  else
    out[#out + 1] = k
  end
end
-- XX: a claim a reaper took back (and removed) is not brought back.
call_sliced('ZADD', KEYS[1], keep, 2, 'XX')
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[3], now, ARGV[2]) end
return out
