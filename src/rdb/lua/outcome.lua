-- outcome.lua: applies a batch of outcomes, each fenced by its claim's token.
-- An outcome whose claim is no longer current is not applied: a worker's outcome is then `late`
-- (its lease was lost), a reaper's is a `race` (the holder extended or finished first).
-- Every argument is checked before the first write; nothing here can fail half-way.
-- KEYS[1] running  KEYS[2] scheduled  KEYS[3] ready    KEYS[4] dead    KEYS[5] dead_index
-- KEYS[6] completed KEYS[7] attempts  KEYS[8] lease    KEYS[9] history KEYS[10] result
-- KEYS[11] error   KEYS[12] dindex    KEYS[13] stats   KEYS[14] wake    KEYS[15] sched
-- KEYS[16] events  KEYS[17] minutes KEYS[18] erased
-- ARGV[1] number of outcomes  ARGV[2] history cap
-- ARGV[3] 1 = this batch may already have been applied by a try whose reply was lost (its
--         rejections are then not counted as late)
-- ARGV[4] events kept (0 = no events)
-- then 11 values per outcome, in `OutcomeEntry::args` order (src/rdb/mod.rs):
--   id, token, action (c = completed, r = retry, d = dead, x = release to the head of ready),
--   delay ms (r), refund (1 = give the attempt back), history entry (JSON object minus its `{`),
--   data (result JSON for c, failure JSON for r and d), dead-index dimensions (`c|class\nk|...`),
--   fence (1 = a reaper's outcome: apply only if the lease deadline has passed),
--   kind and failure class (for the event)
-- Returns a string with one letter per outcome: a = applied, l = late, r = reaper race,
-- e = the job was erased while it ran (`okra-admin erase`): nothing of it is written back.

local n, cap, events = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local PER, FIRST = 11, 5
if not (n and cap and events) or #ARGV ~= FIRST - 1 + n * PER then
  return redis.error_reply('outcome: bad argument count')
end
local ids = {}
for i = 0, n - 1 do
  local b = FIRST + i * PER
  local action = ARGV[b + 2]
  if not tonumber(ARGV[b + 3]) or #action ~= 1 or not string.find('crdx', action, 1, true) then
    return redis.error_reply('outcome: bad entry ' .. (i + 1))
  end
  ids[i + 1] = ARGV[b]
end

local now = now_ms()
local now_s = tostring(now)
local stamp = string.format('%015.0f', now)
local leases = hmget_sliced(KEYS[8], ids)
local histories = hmget_sliced(KEYS[9], ids)
local spent = hmget_sliced(KEYS[7], ids)
local status, done, hist, seen, refunds = {}, {}, {}, {}, {}
local results, completed, errors, scheduled, ready, head, dead = {}, {}, {}, {}, {}, {}, {}
local dindex, index = {}, {}
local succeeded, retried, died, reaped, late, races = 0, 0, 0, 0, 0, 0
for i = 1, n do
  local id, token, action, delay, refund, entry, data, dims, fence, kind, class =
    unpack(ARGV, FIRST + (i - 1) * PER, FIRST - 1 + i * PER)
  local lease = leases[i]
  -- `seen`: a second outcome for the same claim in one batch finds its lease gone.
  local ok = lease and not seen[id] and string.sub(lease, 1, #token + 1) == token .. '|'
  if ok and fence == '1' then
    ok = tonumber(redis.call('ZSCORE', KEYS[1], id) or '0') <= now
  end
  if not ok and fence ~= '1' and redis.call('HDEL', KEYS[18], id) == 1 then
    -- Erased while it ran: its lease went with it; this outcome was the last trace.
    status[i] = 'e'
  elseif not ok then
    if fence == '1' then
      races = races + 1; status[i] = 'r'
    else
      late = late + 1; status[i] = 'l'
    end
  else
    status[i] = 'a'
    done[#done + 1] = id
    seen[id] = true
    if fence == '1' then reaped = reaped + 1 end
    hist[#hist + 1] = id
    hist[#hist + 1] = with_entry(histories[i], entry, now_s, cap)
    if refund == '1' then
      refunds[#refunds + 1] = id
      refunds[#refunds + 1] = math.max((tonumber(spent[i]) or 1) - 1, 0)
    end
    local attempt = tonumber(spent[i]) or 0
    if action == 'c' then
      emit(KEYS[16], events, 'completed', id, kind, '', attempt)
      succeeded = succeeded + 1
      results[#results + 1] = id; results[#results + 1] = data
      completed[#completed + 1] = stamp .. '|' .. id
    elseif action == 'r' then
      emit(KEYS[16], events, 'retry', id, kind, class, attempt)
      retried = retried + 1
      errors[#errors + 1] = id; errors[#errors + 1] = data
      if tonumber(delay) > 0 then
        scheduled[#scheduled + 1] = now + tonumber(delay); scheduled[#scheduled + 1] = id
      else
        ready[#ready + 1] = id
      end
    elseif action == 'x' then
      head[#head + 1] = id
    else
      emit(KEYS[16], events, 'dead', id, kind, class, attempt)
      died = died + 1
      errors[#errors + 1] = id; errors[#errors + 1] = data
      dead[#dead + 1] = now; dead[#dead + 1] = id
      local members = {}
      for dim in string.gmatch(dims, '[^\n]+') do
        local m = dim .. '|' .. stamp .. '|' .. id
        members[#members + 1] = m
        index[#index + 1] = 0; index[#index + 1] = m
      end
      dindex[#dindex + 1] = id; dindex[#dindex + 1] = table.concat(members, '\n')
    end
  end
end
if #done > 0 then
  call_sliced('ZREM', KEYS[1], done, 1)
  call_sliced('HDEL', KEYS[8], done, 1)
  call_sliced('HSET', KEYS[9], hist, 2)
  call_sliced('HSET', KEYS[7], refunds, 2)
  call_sliced('HSET', KEYS[10], results, 2)
  call_sliced('RPUSH', KEYS[6], completed, 1)
  call_sliced('HSET', KEYS[11], errors, 2)
  schedule(KEYS[2], KEYS[15], scheduled)
  call_sliced('ZADD', KEYS[4], dead, 2)
  call_sliced('ZADD', KEYS[5], index, 2)
  call_sliced('HSET', KEYS[12], dindex, 2)
  call_sliced('LPUSH', KEYS[3], ready, 1)
  call_sliced('RPUSH', KEYS[3], head, 1)
  if #ready + #head > 0 then wake(KEYS[14]) end
  local processed = succeeded + retried + died
  if processed > 0 then redis.call('HINCRBY', KEYS[13], 'processed', processed) end
  if succeeded > 0 then redis.call('HINCRBY', KEYS[13], 'succeeded', succeeded) end
  if retried > 0 then redis.call('HINCRBY', KEYS[13], 'retried', retried) end
  if died > 0 then redis.call('HINCRBY', KEYS[13], 'dead', died) end
  -- Per-minute throughput for the dashboard (trimmed by trim.lua).
  local minute = math.floor(now / 60000)
  if processed > 0 then redis.call('HINCRBY', KEYS[17], minute .. '|p', processed) end
  if retried + died > 0 then redis.call('HINCRBY', KEYS[17], minute .. '|f', retried + died) end
  if #head > 0 then redis.call('HINCRBY', KEYS[13], 'released', #head) end
  if reaped > 0 then redis.call('HINCRBY', KEYS[13], 'lease_expired', reaped) end
end
if late > 0 and ARGV[3] ~= '1' then redis.call('HINCRBY', KEYS[13], 'late_outcomes', late) end
if races > 0 then redis.call('HINCRBY', KEYS[13], 'reap_races', races) end
return table.concat(status)
