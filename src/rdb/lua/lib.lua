-- lib.lua: helpers prepended to every okra-queue script at load time (not a script itself).
-- Time always comes from the Redis server, so a fleet on many machines shares one clock.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Runs a variadic command in slices, so `unpack` never sees more than 2,000 values
-- (Lua's C stack limit is what breaks "too many results to unpack" in other queues).
-- `per` is the number of values that form one item (2 for ZADD score/member pairs).
local function call_sliced(cmd, key, list, per)
  local step = 1000 * per
  for i = 1, #list, step do
    redis.call(cmd, key, unpack(list, i, math.min(i + step - 1, #list)))
  end
end

local function wake(wake_key)
  redis.call('LPUSH', wake_key, '1')
  redis.call('LTRIM', wake_key, 0, 0)
end

-- Appends one attempt entry to a job's history, keeping the last `cap` entries.
-- `rest` is a JSON object without its opening brace; every stored entry starts with
-- `{"at":`, a sequence JSON string escaping makes impossible inside values.
local function append_history(hkey, id, rest, now, cap)
  local entry = '{"at":' .. now .. ',' .. rest
  local h = redis.call('HGET', hkey, id)
  if not h then
    h = '[' .. entry .. ']'
  else
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
  end
  redis.call('HSET', hkey, id, h)
end

-- Moves up to `limit` due ids from `scheduled` to `ready`, earliest first.
local function promote(scheduled, ready, state, wake_key, now, limit)
  local ids = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, limit)
  if #ids == 0 then return 0 end
  local st = {}
  for _, id in ipairs(ids) do
    st[#st + 1] = id
    st[#st + 1] = 'ready'
  end
  call_sliced('ZREM', scheduled, ids, 1)
  call_sliced('LPUSH', ready, ids, 1)
  call_sliced('HSET', state, st, 2)
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
-- (the nine column hashes are passed consecutively, see keys.rs `job_columns`).
local function delete_columns(first, ids)
  for k = first, first + 8 do
    call_sliced('HDEL', KEYS[k], ids, 1)
  end
end
