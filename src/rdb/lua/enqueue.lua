-- enqueue.lua: adds a batch of new jobs (ready now, or scheduled for later).
-- KEYS[1] ready   KEYS[2] scheduled   KEYS[3] payload   KEYS[4] meta   KEYS[5] attempts
-- KEYS[6] state   KEYS[7] stats       KEYS[8] wake      KEYS[9..] idempotency keys of this batch
-- ARGV[1] number of jobs   ARGV[2] idempotency TTL (ms)
-- then 6 values per job: id, payload, meta JSON, delay ms, run-at ms (0 = use the delay),
--                        KEYS index of its idempotency key (0 = none)
-- Returns 2 values per job: the job id and `new`, or the id of the original job and `duplicate`.

local now = now_ms()
local n = tonumber(ARGV[1])
local ttl = ARGV[2]
local out, payloads, metas, attempts, states, ready, scheduled = {}, {}, {}, {}, {}, {}, {}
local added = 0
for i = 0, n - 1 do
  local b = 3 + i * 6
  local id = ARGV[b]
  local ik = tonumber(ARGV[b + 5])
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
    payloads[#payloads + 1] = id; payloads[#payloads + 1] = ARGV[b + 1]
    metas[#metas + 1] = id; metas[#metas + 1] = ARGV[b + 2]
    attempts[#attempts + 1] = id; attempts[#attempts + 1] = 0
    local at = tonumber(ARGV[b + 4])
    local due = now + tonumber(ARGV[b + 3])
    if at > 0 then due = at end
    states[#states + 1] = id
    if due > now then
      scheduled[#scheduled + 1] = due; scheduled[#scheduled + 1] = id
      states[#states + 1] = 'scheduled'
    else
      ready[#ready + 1] = id
      states[#states + 1] = 'ready'
    end
    out[#out + 1] = id
    out[#out + 1] = 'new'
  end
end
if added > 0 then
  call_sliced('HSET', KEYS[3], payloads, 2)
  call_sliced('HSET', KEYS[4], metas, 2)
  call_sliced('HSET', KEYS[5], attempts, 2)
  call_sliced('HSET', KEYS[6], states, 2)
  call_sliced('ZADD', KEYS[2], scheduled, 2)
  call_sliced('LPUSH', KEYS[1], ready, 1)
  if #ready > 0 then wake(KEYS[8]) end
  redis.call('HINCRBY', KEYS[7], 'enqueued', added)
end
if added < n then redis.call('HINCRBY', KEYS[7], 'duplicates', n - added) end
return out
