-- outcome.lua: applies a batch of outcomes, each fenced by its job's lease (the token of the
-- claim that holds it, compared whole). An outcome whose claim is no longer current is not applied: a
-- worker's outcome is then `late` (its lease was lost), a reaper's is a `race` (the holder
-- extended or finished first).
-- First runs that succeeded (the common case) come in a short form: the script checks the
-- lease and stores the result; their history is implied (one attempt, a success at the time
-- the result is stamped with), and one event covers them all.
-- A result is stored stamped with the time it was written: `<15-digit ms>|<result>`.
-- `attempts` holds what finished runs spent: retries and dead letters write the attempt
-- (refunded ones one less), releases one less, successes nothing (a leased or completed job's
-- attempt is one more than it holds).
-- Every argument is checked before the first write; nothing here can fail half-way.
-- KEYS[1] running (claims) KEYS[2] scheduled  KEYS[3] ready    KEYS[4] dead    KEYS[5] dead_index
-- KEYS[6] completed (finish order; one entry per call: `ms|id id …`) KEYS[7] attempts  KEYS[8] lease    KEYS[9] history KEYS[10] result
-- KEYS[11] error   KEYS[12] dindex    KEYS[13] stats   KEYS[14] wake    KEYS[15] sched
-- KEYS[16] events  KEYS[17] minutes   KEYS[18] erased  KEYS[19] sealed (the marker)
-- KEYS[20] job     KEYS[21] ident
-- KEYS[22] hooks_on (the events webhook endpoints take)  KEYS[23] outbox (see the end)
-- ARGV[1] short outcomes  ARGV[2] other outcomes  ARGV[3] history cap
-- ARGV[4] 1 = this batch may already have been applied by a try whose reply was lost (its
--         rejections are then not counted as late)
-- ARGV[5] events kept (0 = no events)
-- ARGV[6] the short outcomes' kinds, for their event (one value for all, or one per outcome
--         joined by newlines; the ids are the event's other field)
-- ARGV[7] 1 = the writer seals what it writes; a sealed queue refuses a batch from one that
--         does not (atomically: nothing is written)
-- then 4 values per short outcome: id, lease, result, carried (their ids are distinct, and
--   none of them is among the others': the caller sends a job named twice the long way)
-- then 13 values per other outcome, in `OutcomeEntry::args` order (src/rdb/worker.rs):
--   id, lease, action (c = completed, r = retry, d = dead, x = release to the head of ready),
--   delay ms (r), refund (1 = give the attempt back), history entry (JSON object minus its `{`),
--   data (result JSON for c, failure JSON for r and d), dead-index dimensions (`c|class\nk|...`),
--   fence (1 = a reaper's outcome: apply only if the claim's deadline has passed),
--   kind, failure class and attempt (for the event), carried
-- `carried`: keyed hashes (space-separated) of identifiers the result or failure names; each
-- goes into the identity index (`hash|id`) and the record's metadata (`ax`, so deleting the
-- job drops them: lib.lua `unindex`), so erasing any of those people erases this job.
-- Returns a string with one letter per outcome, short ones first: a = applied, l = late,
-- r = reaper race, e = the job was erased while it ran (`okra-admin erase`): nothing of it is
-- written back.

local short, long, cap, events = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local SHORT, SPER, PER = 8, 4, 13
local LONG = SHORT + (short or 0) * SPER
if not (short and long and cap and events) or #ARGV ~= LONG - 1 + long * PER then
  return redis.error_reply('outcome: bad argument count')
end
if ARGV[7] ~= '1' and short + long > 0 and redis.call('EXISTS', KEYS[19]) == 1 then
  return redis.error_reply('outcome: the queue is sealed (' .. KEYS[19] ..
    '): refusing to write plaintext; set seal.keys_file (OKQ_SEAL__KEYS_FILE) to its keys')
end
local ids, carried = {}, {}
for i = 0, short - 1 do ids[i + 1] = ARGV[SHORT + i * SPER] end
for i = 0, long - 1 do
  local b = LONG + i * PER
  local action = ARGV[b + 2]
  if not (tonumber(ARGV[b + 3]) and tonumber(ARGV[b + 11])) or #action ~= 1
      or not string.find('crdx', action, 1, true) then
    return redis.error_reply('outcome: bad entry ' .. (short + i + 1))
  end
  ids[short + i + 1] = ARGV[b]
end

local now = now_ms()
local now_s = tostring(now)
local stamp = string.format('%015.0f', now)
local leases = hmget_sliced(KEYS[8], ids)
-- Only the others have a history to add to.
local histories = hmget_sliced(KEYS[9], {unpack(ids, short + 1)})
local status, done, hist, seen, spent = {}, {}, {}, {}, {}
local results, completed, errors, scheduled, ready, head, dead = {}, {}, {}, {}, {}, {}, {}
local dindex, index = {}, {}
local succeeded, retried, died, reaped, late, races = 0, 0, 0, 0, 0, 0

-- Not applied: erased while it ran, a late worker, or a reaper that lost the race.
local function rejected(i, id, fence)
  if fence ~= '1' and redis.call('HDEL', KEYS[18], id) == 1 then
    status[i] = 'e'
  elseif fence == '1' then
    races = races + 1; status[i] = 'r'
  else
    late = late + 1; status[i] = 'l'
  end
end

-- Short outcomes: first runs that succeeded.
for i = 1, short do
  local b = SHORT + (i - 1) * SPER
  local id = ARGV[b]
  if leases[i] == ARGV[b + 1] then
    status[i] = 'a'
    done[#done + 1] = id
    if ARGV[b + 3] ~= '' then carried[id] = ARGV[b + 3] end
    results[#results + 1] = id; results[#results + 1] = stamp .. '|' .. ARGV[b + 2]
    completed[#completed + 1] = id
  else
    rejected(i, id, '0')
  end
end
-- So far `done` holds the short outcomes applied.
succeeded = #done
if succeeded == short then
  emit(KEYS[16], events, 'completed', short, table.concat(done, ' '), ARGV[6], '', '1')
elseif succeeded > 0 then
  local kinds = split(ARGV[6], short)
  local k = {}
  for i = 1, short do
    if status[i] == 'a' then k[#k + 1] = kinds[i] end
  end
  emit(KEYS[16], events, 'completed', succeeded, table.concat(done, ' '), joined(k), '', '1')
end

-- The others.
local ev = {c = {{}, {}, {}, {}}, r = {{}, {}, {}, {}}, d = {{}, {}, {}, {}}}
for i = short + 1, short + long do
  local id, lease, action, delay, refund, entry, data, dims, fence, kind, class, attempt, ax =
    unpack(ARGV, LONG + (i - short - 1) * PER, LONG - 1 + (i - short) * PER)
  -- `seen`: a second outcome for the same claim in one batch finds its lease gone.
  local ok = leases[i] == lease and lease ~= '' and not seen[id]
  if ok and fence == '1' then
    ok = tonumber(redis.call('ZSCORE', KEYS[1], lease) or '0') <= now
  end
  if not ok then
    rejected(i, id, fence)
  else
    status[i] = 'a'
    done[#done + 1] = id
    seen[id] = true
    if ax ~= '' then carried[id] = ax end
    if fence == '1' then reaped = reaped + 1 end
    hist[#hist + 1] = id
    hist[#hist + 1] = with_entry(histories[i - short], entry, now_s, cap)
    if refund == '1' or action == 'x' then
      spent[#spent + 1] = id; spent[#spent + 1] = math.max(tonumber(attempt) - 1, 0)
    elseif action ~= 'c' then
      spent[#spent + 1] = id; spent[#spent + 1] = attempt
    end
    local e = ev[action]
    if e then
      e[1][#e[1] + 1] = id; e[2][#e[2] + 1] = kind; e[3][#e[3] + 1] = class
      e[4][#e[4] + 1] = attempt
    end
    if action == 'c' then
      succeeded = succeeded + 1
      results[#results + 1] = id; results[#results + 1] = stamp .. '|' .. data
      completed[#completed + 1] = id
    elseif action == 'r' then
      retried = retried + 1
      errors[#errors + 1] = id; errors[#errors + 1] = data
      if tonumber(delay) > 0 then
        scheduled[#scheduled + 1] = due_time(now, tonumber(delay), 0); scheduled[#scheduled + 1] = id
      else
        ready[#ready + 1] = id
      end
    elseif action == 'x' then
      head[#head + 1] = id
    else
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
for _, pair in ipairs({{'c', 'completed'}, {'r', 'retry'}, {'d', 'dead'}}) do
  local e = ev[pair[1]]
  emit(KEYS[16], events, pair[2], #e[1], table.concat(e[1], ' '), joined(e[2]), joined(e[3]),
    joined(e[4]))
end

if #done > 0 then
  -- The claim stays in `running` until it expires with no job left (expired.lua removes it).
  call_sliced('HDEL', KEYS[8], done, 1)
  call_sliced('HSET', KEYS[9], hist, 2)
  call_sliced('HSET', KEYS[7], spent, 2)
  call_sliced('HSET', KEYS[10], results, 2)
  -- One entry for all the jobs this call completed: `<15-digit ms>|id id …`.
  if #completed > 0 then
    redis.call('RPUSH', KEYS[6], stamp .. '|' .. table.concat(completed, ' '))
  end
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
-- What the answers carry: index entries, and the record's `ax` (merged with what it had).
for id, list in pairs(carried) do
  local record = redis.call('HGET', KEYS[20], id)
  local nl = record and string.find(record, '\n', 1, true)
  if nl and string.find(list, '^[%x ]+$') then
    local meta = string.sub(record, 1, nl - 1)
    local had = string.match(meta, '"ax":"([%x ]*)"')
    local all, members = had or '', {}
    for h in string.gmatch(list, '%x+') do
      members[#members + 1] = 0; members[#members + 1] = h .. '|' .. id
      if not string.find(' ' .. all .. ' ', ' ' .. h .. ' ', 1, true) then
        all = (all == '' and h) or (all .. ' ' .. h)
      end
    end
    call_sliced('ZADD', KEYS[21], members, 2)
    if had then
      meta = string.gsub(meta, '"ax":"[%x ]*"', '"ax":"' .. all .. '"', 1)
    else
      meta = string.sub(meta, 1, -2) .. ',"ax":"' .. all .. '"}'
    end
    redis.call('HSET', KEYS[20], id, meta .. string.sub(record, nl))
  end
end
-- Webhooks (src/webhooks/): a reference `c|id|ms` (c completed, d dead, r retrying) for each
-- outcome whose event an enabled endpoint takes, written with the outcome so none is missed;
-- the workers' forwarder turns them into delivery jobs. One GET when no endpoint exists.
local hooks_on = redis.call('GET', KEYS[22])
if hooks_on then
  local refs = {}
  for _, pair in ipairs({{'c', completed}, {'d', ev.d[1]}, {'r', ev.r[1]}}) do
    if string.find(hooks_on, pair[1], 1, true) then
      for _, id in ipairs(pair[2]) do refs[#refs + 1] = pair[1] .. '|' .. id .. '|' .. now_s end
    end
  end
  call_sliced('LPUSH', KEYS[23], refs, 1)
end
if late > 0 and ARGV[4] ~= '1' then redis.call('HINCRBY', KEYS[13], 'late_outcomes', late) end
if races > 0 then redis.call('HINCRBY', KEYS[13], 'reap_races', races) end
return table.concat(status)
