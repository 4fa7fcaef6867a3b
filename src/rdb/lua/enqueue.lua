-- enqueue.lua: adds a batch of new jobs (ready now, or scheduled for later). The record's
-- `created_at`, `window_start` and `due_at` are Redis time, set here, so the fleet shares one
-- clock.
-- Every argument and idempotency key is checked before the first write.
-- KEYS[1] ready   KEYS[2] scheduled   KEYS[3] job   KEYS[4] stats   KEYS[5] wake  KEYS[6] sched
-- KEYS[7] events  KEYS[8] ident       KEYS[9..] idempotency keys of this batch
-- ARGV[1] number of jobs   ARGV[2] idempotency TTL (ms)   ARGV[3] events kept (0 = no events)
-- then 8 values per job, in `NewJob::args` order (src/rdb/mod.rs):
--   id, metadata head (a JSON object without its closing `}`), payload JSON,
--   delay ms, run-at ms (0 = use the delay), KEYS index of its idempotency key (0 = none),
--   kind, identity-index hash (hex; '' = not indexed)
-- Returns 2 values per job: the job id and `new`, or the id of the original job and `duplicate`.

local n, ttl, events = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local PER = 8
if not (n and ttl and events) or #ARGV ~= 3 + n * PER then
  return redis.error_reply('enqueue: bad argument count')
end
local jobs = {}
for i = 0, n - 1 do
  local id, head, payload, delay, at, ik, kind, ix = unpack(ARGV, 4 + i * PER, 3 + (i + 1) * PER)
  delay, at, ik = tonumber(delay), tonumber(at), tonumber(ik)
  if not (delay and at and ik) or ik > #KEYS or string.sub(head, 1, 1) ~= '{' then
    return redis.error_reply('enqueue: bad job ' .. (i + 1))
  end
  if ik > 0 then
    local held = redis.pcall('GET', KEYS[ik])
    if type(held) == 'table' and held.err then
      return redis.error_reply('enqueue: idempotency key ' .. KEYS[ik] .. ' is not a string')
    end
  end
  if not string.find(ix, '^%x*$') then return redis.error_reply('enqueue: bad job ' .. (i + 1)) end
  jobs[#jobs + 1] = {id = id, head = head, payload = payload, delay = delay, at = at, ik = ik,
    kind = kind, ix = ix}
end

local now = now_ms()
local stamp = '"created_at":' .. now .. ',"window_start":' .. now .. ',"due_at":'
local out, records, ready, scheduled, index = {}, {}, {}, {}, {}
local added = 0
for _, j in ipairs(jobs) do
  local original = nil
  if j.ik > 0 and not redis.call('SET', KEYS[j.ik], j.id, 'NX', 'PX', ttl) then
    original = redis.call('GET', KEYS[j.ik])
  end
  if original then
    out[#out + 1] = original
    out[#out + 1] = 'duplicate'
  else
    added = added + 1
    local sep = ','
    if j.head == '{' then sep = '' end
    local due = now + j.delay
    if j.at > 0 then due = j.at end
    records[#records + 1] = j.id
    records[#records + 1] = j.head .. sep .. stamp .. math.max(due, now) .. '}\n' .. j.payload
    if due > now then
      scheduled[#scheduled + 1] = due; scheduled[#scheduled + 1] = j.id
    else
      ready[#ready + 1] = j.id
    end
    if j.ix ~= '' then
      index[#index + 1] = 0; index[#index + 1] = j.ix .. '|' .. j.id
    end
    emit(KEYS[7], events, 'enqueued', j.id, j.kind, '', 0)
    out[#out + 1] = j.id
    out[#out + 1] = 'new'
  end
end
if added > 0 then
  call_sliced('HSET', KEYS[3], records, 2)
  call_sliced('ZADD', KEYS[8], index, 2)
  schedule(KEYS[2], KEYS[6], scheduled)
  call_sliced('LPUSH', KEYS[1], ready, 1)
  if #ready > 0 then wake(KEYS[5]) end
  redis.call('HINCRBY', KEYS[4], 'enqueued', added)
end
if added < n then redis.call('HINCRBY', KEYS[4], 'duplicates', n - added) end
return out
