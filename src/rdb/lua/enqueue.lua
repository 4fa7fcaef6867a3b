-- enqueue.lua: adds a batch of new jobs (ready now, or scheduled for later).
-- KEYS[1] ready   KEYS[2] scheduled   KEYS[3] job   KEYS[4] stats   KEYS[5] wake
-- KEYS[6..] idempotency keys of this batch
-- ARGV[1] number of jobs   ARGV[2] idempotency TTL (ms)
-- then 5 values per job: id, record (`meta JSON` newline `payload`), delay ms,
--                        run-at ms (0 = use the delay), KEYS index of its idempotency key (0 = none)
-- Returns 2 values per job: the job id and `new`, or the id of the original job and `duplicate`.

local now = now_ms()
local n = tonumber(ARGV[1])
local ttl = ARGV[2]
local out, records, ready, scheduled = {}, {}, {}, {}
local added = 0
for i = 0, n - 1 do
  local b = 3 + i * 5
  local id = ARGV[b]
  local ik = tonumber(ARGV[b + 4])
  local original = nil
  if ik > 0 then
    if not redis.call('SET', KEYS[ik], id, 'NX', 'PX', ttl) then
      original = redis.call('GET', KEYS[ik])
    end
  end
  if original then
    out[#out + 1] = original
    out[#out + 1] = 'duplicate'
  else
    added = added + 1
    records[#records + 1] = id; records[#records + 1] = ARGV[b + 1]
    local at = tonumber(ARGV[b + 3])
    local due = now + tonumber(ARGV[b + 2])
    if at > 0 then due = at end
    if due > now then
      scheduled[#scheduled + 1] = due; scheduled[#scheduled + 1] = id
    else
      ready[#ready + 1] = id
    end
    out[#out + 1] = id
    out[#out + 1] = 'new'
  end
end
if added > 0 then
  call_sliced('HSET', KEYS[3], records, 2)
  call_sliced('ZADD', KEYS[2], scheduled, 2)
  call_sliced('LPUSH', KEYS[1], ready, 1)
  if #ready > 0 then wake(KEYS[5]) end
  redis.call('HINCRBY', KEYS[4], 'enqueued', added)
end
if added < n then redis.call('HINCRBY', KEYS[4], 'duplicates', n - added) end
return out
