-- enqueue.lua: adds a batch of jobs that are delayed, timed, or carry an idempotency key (jobs
-- ready now without one are written by a plain transaction: src/rdb/enqueue.rs). The record's
-- `created_at` and `due_at` are Redis time, set here, so the fleet shares one clock (a
-- `due_at` or `window_start` equal to `created_at` is not written: readers take `created_at`). Every argument and idempotency key is checked before the first write.
-- KEYS[1] ready   KEYS[2] scheduled   KEYS[3] job   KEYS[4] stats   KEYS[5] wake  KEYS[6] sched
-- KEYS[7] events  KEYS[8] ident       KEYS[9..] idempotency keys of this batch
-- ARGV[1] number of jobs  ARGV[2] idempotency TTL (ms)  ARGV[3] events kept (0 = no events)
-- then 6 values per job, in `NewJob::args` order (src/rdb/enqueue.rs): id, record tail (the
--   metadata after the timestamps, `,"kind":…}`, a newline and the payload), identity-index
--   hash (hex; '' = not indexed), delay ms, run-at ms (0 = use the delay), KEYS index of its
--   idempotency key (0 = none)
-- Returns the duplicates only (every other job was added under its own id): pairs of the
-- job's 1-based position and the id of the original job its key names.

local n, ttl, events = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local FIRST = 4
if not (n and ttl and events) or #ARGV ~= FIRST - 1 + n * 6 then
  return redis.error_reply('enqueue: bad argument count')
end
for i = 0, n - 1 do
  local b = FIRST + i * 6
  local tail, ix = ARGV[b + 1], ARGV[b + 2]
  local delay, at, ik = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  if string.sub(tail, 1, 1) ~= ',' or not string.find(ix, '^%x*$') or not (delay and at and ik)
      or ik > #KEYS then
    return redis.error_reply('enqueue: bad job ' .. (i + 1))
  end
  if ik > 0 then
    local held = redis.pcall('GET', KEYS[ik])
    if type(held) == 'table' and held.err then
      return redis.error_reply('enqueue: idempotency key ' .. KEYS[ik] .. ' is not a string')
    end
  end
end

local now = now_ms()
local stamp = '{"created_at":' .. now
local out, records, ready, scheduled, index = {}, {}, {}, {}, {}
local ids, kinds = {}, {}
for i = 0, n - 1 do
  local b = FIRST + i * 6
  local id, tail, ix = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local delay, at, ik = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local original = nil
  if ik > 0 and not redis.call('SET', KEYS[ik], id, 'NX', 'PX', ttl) then
    original = redis.call('GET', KEYS[ik])
  end
  if original then
    out[#out + 1] = i + 1
    out[#out + 1] = original
  else
    local due = due_time(now, delay, at)
    records[#records + 1] = id
    if due > now then
      records[#records + 1] = stamp .. ',"due_at":' .. due .. tail
    else
      records[#records + 1] = stamp .. tail
    end
    if due > now then
      scheduled[#scheduled + 1] = due; scheduled[#scheduled + 1] = id
    else
      ready[#ready + 1] = id
    end
    if ix ~= '' then
      index[#index + 1] = '0'; index[#index + 1] = ix .. '|' .. id
    end
    ids[#ids + 1] = id
    kinds[#kinds + 1] = record_kind(tail)
  end
end
emit(KEYS[7], events, 'enqueued', #ids, table.concat(ids, ' '), joined(kinds), '', '0')
if #ids > 0 then
  call_sliced('HSET', KEYS[3], records, 2)
  call_sliced('ZADD', KEYS[8], index, 2)
  schedule(KEYS[2], KEYS[6], scheduled)
  call_sliced('LPUSH', KEYS[1], ready, 1)
  if #ready > 0 then wake(KEYS[5]) end
  redis.call('HINCRBY', KEYS[4], 'enqueued', #ids)
end
if #ids < n then redis.call('HINCRBY', KEYS[4], 'duplicates', n - #ids) end
return out
