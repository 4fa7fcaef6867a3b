-- lib.lua: helpers prepended to every okra-queue script at load time (not a script itself).
-- Time always comes from the Redis server, so a fleet on many machines shares one clock.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The longest wait for a due time, in ms: src/job.rs MAX_DELAY (365 days; a test checks they
-- agree). Rust refuses longer delays; this caps what another producer might send, so a due
-- time stays an integer far below 2^53 that Lua writes as digits, never as `1.2e+14`.
local MAX_DELAY_MS = 31536000000

-- The due time `delay` ms from `now`, or `at` when it is set (> 0): never before now, never
-- more than MAX_DELAY_MS after it.
local function due_time(now, delay, at)
  local due = now + delay
  if at > 0 then due = at end
  return math.min(math.max(due, now), now + MAX_DELAY_MS)
end

-- Runs a variadic command in slices, so `unpack` never sees more than 2,000 values
-- (Lua's C stack limit is what breaks "too many results to unpack" in other queues).
-- `per` is the number of values that form one item (2 for ZADD score/member pairs).
-- `opt` is an optional flag placed before the items (`XX` for ZADD).
local function call_sliced(cmd, key, list, per, opt)
  local step = 1000 * per
  for i = 1, #list, step do
    if opt then
      redis.call(cmd, key, opt, unpack(list, i, math.min(i + step - 1, #list)))
    else
      redis.call(cmd, key, unpack(list, i, math.min(i + step - 1, #list)))
    end
  end
end

local function wake(wake_key)
  redis.call('LPUSH', wake_key, '1')
  redis.call('LTRIM', wake_key, 0, 0)
end

-- Returns a job's history JSON with one attempt entry appended, keeping the last `cap`.
-- `h` is the stored history (false when none), `now_s` the time as text; `rest` is a JSON
-- object without its opening
-- brace. Every stored entry starts with `{"at":`, a sequence JSON string escaping makes
-- impossible inside values, so entries can be counted and cut without decoding.
local function with_entry(h, rest, now_s, cap)
  local entry = '{"at":' .. now_s .. ',' .. rest
  if not h then return '[' .. entry .. ']' end
  h = string.sub(h, 1, -2) .. ',' .. entry .. ']'
  local starts, pos = {}, 1
  while true do
    local s = string.find(h, '{"at":', pos, true)
    if not s then break end
    starts[#starts + 1] = s
    pos = s + 6
  end
  if #starts > cap then
    h = '[' .. string.sub(h, starts[#starts - cap + 1])
  end
  return h
end

local function append_history(hkey, id, rest, now, cap)
  redis.call('HSET', hkey, id, with_entry(redis.call('HGET', hkey, id), rest, tostring(now), cap))
end

-- HMGET of many fields, in slices (see call_sliced).
local function hmget_sliced(key, ids)
  if #ids == 0 then return {} end
  if #ids <= 1000 then return redis.call('HMGET', key, unpack(ids)) end
  local out = {}
  for i = 1, #ids, 1000 do
    local part = redis.call('HMGET', key, unpack(ids, i, math.min(i + 999, #ids)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end

-- Adds scheduled ids (score/member pairs) and wakes the schedulers (`sched` key) when one of
-- them is due sooner than everything already waiting, so their timers are re-armed for it.
local function schedule(scheduled, sched_key, pairs)
  if #pairs == 0 then return end
  local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  local earliest = tonumber(head[2])
  local sooner = earliest == nil
  for i = 1, #pairs, 2 do
    if earliest and pairs[i] < earliest then sooner = true end
  end
  call_sliced('ZADD', scheduled, pairs, 2)
  if sooner then wake(sched_key) end
end

-- Moves up to `limit` due ids from `scheduled` to `ready`, earliest first.
local function promote(scheduled, ready, wake_key, now, limit)
  local ids = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, limit)
  if #ids == 0 then return 0 end
  call_sliced('ZREM', scheduled, ids, 1)
  call_sliced('LPUSH', ready, ids, 1)
  wake(wake_key)
  return #ids
end

-- Takes up to `want` slots of a sliding-window rate limit (limit <= 0 means unlimited).
-- Returns the number granted and, when none is free, the milliseconds until one frees up.
local function rate_take(rate_key, now, limit, window, want)
  if limit <= 0 then return want, 0 end
  redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - window)
  local used = redis.call('ZCARD', rate_key)
  if used >= limit then
    local oldest = redis.call('ZRANGE', rate_key, 0, 0, 'WITHSCORES')
    return 0, math.max(1, tonumber(oldest[2]) + window - now)
  end
  return math.min(want, limit - used), 0
end

-- Removes a dead letter from the dead set and its filter index.
local function undead(dead, dead_index, dindex, id)
  local members = redis.call('HGET', dindex, id)
  if members then
    for m in string.gmatch(members, '[^\n]+') do
      redis.call('ZREM', dead_index, m)
    end
    redis.call('HDEL', dindex, id)
  end
  return redis.call('ZREM', dead, id)
end

-- Deletes every column of the given ids; `first` is the KEYS index of the first column hash
-- (the eight column hashes are passed consecutively, see keys.rs `job_columns`).
local function delete_columns(first, ids)
  for k = first, first + 7 do
    call_sliced('HDEL', KEYS[k], ids, 1)
  end
end

-- Appends one stream entry for `n` jobs that went through the same event, so an event costs
-- one write per script call, not one per job. `jobs` is their ids joined by spaces; `kinds`,
-- `classes` and `attempts` hold one value for all of them, or one per job joined by newlines.
-- The stream keeps about `max` events: entries go whole, so it keeps `max / n` entries of
-- this size (at least one). Events name jobs and never carry a payload: no personal data
-- leaves the record. `max` 0 = no events.
local function emit(stream, max, event, n, jobs, kinds, classes, attempts)
  if max <= 0 or n == 0 then return end
  redis.call('XADD', stream, 'MAXLEN', math.max(1, math.ceil(max / n)), '*',
    'event', event, 'jobs', jobs, 'kinds', kinds, 'classes', classes, 'attempts', attempts)
end

-- One value when every value of `list` is the same (or it is empty), else them all joined by
-- newlines: the shape `emit` takes.
local function joined(list)
  local first = list[1]
  for i = 2, #list do
    if list[i] ~= first then return table.concat(list, '\n') end
  end
  return first or ''
end

-- The `n` values of a field `joined` wrote (one value stands for all of them).
local function split(field, n)
  local out = {}
  if not string.find(field, '\n', 1, true) then
    for i = 1, n do out[i] = field end
    return out
  end
  for v in string.gmatch(field .. '\n', '([^\n]*)\n') do out[#out + 1] = v end
  return out
end

-- How many reuse entries ARGV holds (charge_end.lua, charge_fix.lua), checked whole before
-- the first write: `per` values each, the `np_at`th of them its number of carried pairs, and
-- `valid(b)` true for its other values (at ARGV[b + 1 ..]); KEYS the account's sealed marker,
-- then per entry the entry, the person's tombstone and two keys per pair. nil when anything
-- is off.
local function reuse_entries(per, np_at, valid)
  local n = #ARGV / per
  if n ~= math.floor(n) then return nil end
  local keys_used = 1
  for i = 1, n do
    local b = (i - 1) * per
    local np = tonumber(ARGV[b + np_at])
    if not (np and valid(b)) then return nil end
    keys_used = keys_used + 2 + 2 * np
  end
  if keys_used ~= #KEYS then return nil end
  return n
end

-- What a reuse entry's profile must not be stored over (charge_end.lua, charge_fix.lua), with
-- the entry's keys at KEYS[k] (the entry), KEYS[k + 1] (the person's tombstone), then `np`
-- pairs (carries:<h>, erased:<h>), and the account's sealed marker at KEYS[1]: every tombstone,
-- and the marker too for a plaintext profile (one EXISTS of them all). Also returns the key id
-- that sealed `entry` (`profile|<hashes>|sealed1:<id>:…`), nil for plaintext.
local function reuse_stops(k, np, entry)
  local stop = {KEYS[k + 1]}
  for j = k + 3, k + 1 + 2 * np, 2 do stop[#stop + 1] = KEYS[j] end
  local sealed_by = string.match(entry, '^profile|[^|]*|sealed1:([^:]+):')
  if not sealed_by then stop[#stop + 1] = KEYS[1] end
  return stop, sealed_by
end

-- The job kind in a stored record's metadata line. JSON escapes every quote inside a string,
-- so `"kind":"` can only be the field itself.
local function record_kind(record)
  if not record then return '' end
  local nl = string.find(record, '\n', 1, true) or (#record + 1)
  return string.match(string.sub(record, 1, nl - 1), '"kind":"([^"]*)"') or ''
end

-- Drops the identity-index entries of jobs about to be deleted: `ix` in the metadata line
-- (what the job asked about) and `ax` (what its answers carried, written by outcome.lua).
local function unindex(ident, job, ids)
  if #ids == 0 or redis.call('EXISTS', ident) == 0 then return end
  local records = hmget_sliced(job, ids)
  local members = {}
  for i, r in ipairs(records) do
    if r then
      local nl = string.find(r, '\n', 1, true) or (#r + 1)
      local meta = string.sub(r, 1, nl - 1)
      local ix = string.match(meta, '"ix":"(%x+)"')
      if ix then members[#members + 1] = ix .. '|' .. ids[i] end
      for h in string.gmatch(string.match(meta, '"ax":"([%x ]*)"') or '', '%x+') do
        members[#members + 1] = h .. '|' .. ids[i]
      end
    end
  end
  call_sliced('ZREM', ident, members, 1)
end
