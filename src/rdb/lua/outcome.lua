-- outcome.lua: applies a batch of outcomes, each fenced by its claim's token.
-- A late outcome (its lease was reaped and the job claimed again, or finished) is rejected.
-- KEYS[1] running  KEYS[2] scheduled  KEYS[3] ready    KEYS[4] dead    KEYS[5] dead_index
-- KEYS[6] completed KEYS[7] attempts  KEYS[8] lease    KEYS[9] history KEYS[10] result
-- KEYS[11] error   KEYS[12] dindex    KEYS[13] stats   KEYS[14] wake
-- ARGV[1] number of outcomes  ARGV[2] history cap
-- then 9 values per outcome:
--   id, token, action (c = completed, r = retry, d = dead, x = release to the head of ready),
--   delay ms (r), refund (1 = give the attempt back), history entry (JSON object minus its `{`),
--   data (result JSON for c, failure JSON for r and d), dead-index dimensions (`c|class\nk|kind...`),
--   require-expired (1 = apply only if the lease deadline has passed: the reaper's fence)
-- Returns {applied, rejected id...}.

local now = now_ms()
local now_s = tostring(now)
local n = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local done, rejected, hist, seen = {}, {}, {}, {}
local results, completed, errors, scheduled, ready, head, dead = {}, {}, {}, {}, {}, {}, {}
local succeeded, retried, died, reaped = 0, 0, 0, 0
local stamp = string.format('%015.0f', now)
local ids = {}
for i = 0, n - 1 do ids[#ids + 1] = ARGV[3 + i * 9] end
local leases = hmget_sliced(KEYS[8], ids)
local histories = hmget_sliced(KEYS[9], ids)
for i = 0, n - 1 do
  local b = 3 + i * 9
  local id, token, action = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local lease = leases[i + 1]
  -- `seen`: a second outcome for the same claim in one batch finds its lease gone.
  local ok = lease and not seen[id] and string.sub(lease, 1, #token + 1) == token .. '|'
  if ok and ARGV[b + 8] == '1' then
    ok = tonumber(redis.call('ZSCORE', KEYS[1], id) or '0') <= now
  end
  if not ok then
    rejected[#rejected + 1] = id
  else
    done[#done + 1] = id
    seen[id] = true
    if ARGV[b + 8] == '1' then reaped = reaped + 1 end
    hist[#hist + 1] = id
    hist[#hist + 1] = with_entry(histories[i + 1], ARGV[b + 5], now_s, cap)
    if ARGV[b + 4] == '1' then redis.call('HINCRBY', KEYS[7], id, -1) end
    if action == 'c' then
      succeeded = succeeded + 1
      results[#results + 1] = id; results[#results + 1] = ARGV[b + 6]
      completed[#completed + 1] = stamp .. '|' .. id
    elseif action == 'r' then
      retried = retried + 1
      errors[#errors + 1] = id; errors[#errors + 1] = ARGV[b + 6]
      local delay = tonumber(ARGV[b + 3])
      if delay > 0 then
        scheduled[#scheduled + 1] = now + delay; scheduled[#scheduled + 1] = id
      else
        ready[#ready + 1] = id
      end
    elseif action == 'x' then
      head[#head + 1] = id
    else
      died = died + 1
      errors[#errors + 1] = id; errors[#errors + 1] = ARGV[b + 6]
      dead[#dead + 1] = now; dead[#dead + 1] = id
      local members = {}
      for dim in string.gmatch(ARGV[b + 7], '[^\n]+') do
        local m = dim .. '|' .. stamp .. '|' .. id
        members[#members + 1] = m
        redis.call('ZADD', KEYS[5], 0, m)
      end
      redis.call('HSET', KEYS[12], id, table.concat(members, '\n'))
    end
  end
end
if #done > 0 then
  call_sliced('ZREM', KEYS[1], done, 1)
  call_sliced('HDEL', KEYS[8], done, 1)
  call_sliced('HSET', KEYS[9], hist, 2)
  call_sliced('HSET', KEYS[10], results, 2)
  call_sliced('RPUSH', KEYS[6], completed, 1)
  call_sliced('HSET', KEYS[11], errors, 2)
  call_sliced('ZADD', KEYS[2], scheduled, 2)
  call_sliced('ZADD', KEYS[4], dead, 2)
  call_sliced('LPUSH', KEYS[3], ready, 1)
  call_sliced('RPUSH', KEYS[3], head, 1)
  if #ready + #head > 0 then wake(KEYS[14]) end
  local processed = succeeded + retried + died
  if processed > 0 then redis.call('HINCRBY', KEYS[13], 'processed', processed) end
  if succeeded > 0 then redis.call('HINCRBY', KEYS[13], 'succeeded', succeeded) end
  if retried > 0 then redis.call('HINCRBY', KEYS[13], 'retried', retried) end
  if died > 0 then redis.call('HINCRBY', KEYS[13], 'dead', died) end
  if #head > 0 then redis.call('HINCRBY', KEYS[13], 'released', #head) end
  if reaped > 0 then redis.call('HINCRBY', KEYS[13], 'lease_expired', reaped) end
end
if #rejected > 0 then redis.call('HINCRBY', KEYS[13], 'late_outcomes', #rejected) end
local out = {#done}
for _, id in ipairs(rejected) do out[#out + 1] = id end
return out
