-- enqueue.lua: adds a batch of new jobs (ready now, or scheduled for later). The record's
-- `created_at`, `window_start` and `due_at` are Redis time, set here, so the fleet shares one
-- clock. Jobs without a delay, a run-at time or an idempotency key (the common case) come in a
-- short form, so the script's per-job work stays a concatenation and a few table slots.
-- Every argument and idempotency key is checked before the first write.
-- KEYS[1] ready   KEYS[2] scheduled   KEYS[3] job   KEYS[4] stats   KEYS[5] wake  KEYS[6] sched
-- KEYS[7] events  KEYS[8] ident       KEYS[9..] idempotency keys of this batch
-- ARGV[1] short jobs  ARGV[2] other jobs  ARGV[3] idempotency TTL (ms)  ARGV[4] events kept
--   (0 = no events)  ARGV[5] the short jobs' kinds for their event (one, or one per job
--   joined by newlines; their ids are the event's other field)
-- then 3 values per short job, in `NewJob::args` order (src/rdb/enqueue.rs):
--   id, record tail (the metadata after the timestamps, `,"kind":…}` or `}`, a newline and the
--   payload), identity-index hash (hex; '' = not indexed)
-- then 6 values per other job: the same three, then delay ms, run-at ms (0 = use the delay),
--   KEYS index of its idempotency key (0 = none)
-- Returns the duplicates only (every other job was added under its own id): pairs of the
-- 1-based position among the other jobs and the id of the original job its key names.

local short, long, ttl, events = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local FIRST = 6
if not (short and long and ttl and events) or #ARGV ~= FIRST - 1 + short * 3 + long * 6 then
  return redis.error_reply('enqueue: bad argument count')
end
local function bad(b, i)
  local tail, ix = ARGV[b + 1], ARGV[b + 2]
  return string.sub(tail, 1, 1) ~= ',' and string.sub(tail, 1, 1) ~= '}' or not string.find(ix, '^%x*$')
end
for i = 0, short - 1 do
  if bad(FIRST + i * 3) then return redis.error_reply('enqueue: bad job ' .. (i + 1)) end
end
local LONG = FIRST + short * 3
for i = 0, long - 1 do
  local b = LONG + i * 6
  local delay, at, ik = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  if bad(b) or not (delay and at and ik) or ik > #KEYS then
    return redis.error_reply('enqueue: bad job ' .. (short + i + 1))
  end
  if ik > 0 then
    local held = redis.pcall('GET', KEYS[ik])
    if type(held) == 'table' and held.err then
      return redis.error_reply('enqueue: idempotency key ' .. KEYS[ik] .. ' is not a string')
    end
  end
end

local now = now_ms()
local stamp = '{"created_at":' .. now .. ',"window_start":' .. now .. ',"due_at":'
local ready_now = stamp .. now
local out, records, ready, scheduled, index = {}, {}, {}, {}, {}
-- The short jobs: ready now.
for i = 0, short - 1 do
  local b = FIRST + i * 3
  local id, ix = ARGV[b], ARGV[b + 2]
  records[#records + 1] = id
  records[#records + 1] = ready_now .. ARGV[b + 1]
  ready[#ready + 1] = id
  if ix ~= '' then
    index[#index + 1] = '0'; index[#index + 1] = ix .. '|' .. id
  end
end
if short > 0 then
  local ids = {}
  for i = 0, short - 1 do ids[i + 1] = ARGV[FIRST + i * 3] end
  emit(KEYS[7], events, 'enqueued', short, table.concat(ids, ' '), ARGV[5], '', '0')
end
-- The others: delayed, timed or keyed.
local added, ids, kinds = short, {}, {}
for i = 0, long - 1 do
  local b = LONG + i * 6
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
    added = added + 1
    local due = now + delay
    if at > 0 then due = at end
    due = math.max(due, now)
    records[#records + 1] = id
    records[#records + 1] = stamp .. due .. tail
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
if added > 0 then
  call_sliced('HSET', KEYS[3], records, 2)
  call_sliced('ZADD', KEYS[8], index, 2)
  schedule(KEYS[2], KEYS[6], scheduled)
  call_sliced('LPUSH', KEYS[1], ready, 1)
  if #ready > 0 then wake(KEYS[5]) end
  redis.call('HINCRBY', KEYS[4], 'enqueued', added)
end
if added < short + long then redis.call('HINCRBY', KEYS[4], 'duplicates', short + long - added) end
return out
