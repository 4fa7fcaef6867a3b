-- expired.lua: lists leases whose deadline has passed, with what a reaper needs to judge them
-- (read-only; the reaper decides and applies with outcome.lua, fenced by token and deadline).
-- KEYS[1] running  KEYS[2] lease  KEYS[3] attempts  KEYS[4] job  KEYS[5] workers
-- ARGV[1] max jobs (<= 1000)
-- Returns {now, then 6 values per lease: id, lease (`token|worker/loop|claimed_at`), deadline ms,
--          attempts, record, the holder process's last stamp ms (0 = never seen)}.

local max = tonumber(ARGV[1])
if not max then return redis.error_reply('expired: non-numeric limit') end
local now = now_ms()
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
local out = {now}
if #found == 0 then return out end
local ids = {}
for i = 1, #found, 2 do ids[#ids + 1] = found[i] end
local leases = redis.call('HMGET', KEYS[2], unpack(ids))
local attempts = redis.call('HMGET', KEYS[3], unpack(ids))
local records = redis.call('HMGET', KEYS[4], unpack(ids))
for i, id in ipairs(ids) do
  local lease = leases[i] or ''
  local holder = string.match(lease, '^[^|]*|([^|/]*)') or ''
  local stamp = 0
  if holder ~= '' then stamp = tonumber(redis.call('ZSCORE', KEYS[5], holder)) or 0 end
  out[#out + 1] = id
  out[#out + 1] = lease
  out[#out + 1] = found[2 * i]
  out[#out + 1] = attempts[i] or '0'
  out[#out + 1] = records[i] or ''
  out[#out + 1] = stamp
end
return out
