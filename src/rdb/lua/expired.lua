-- expired.lua: lists jobs whose lease deadline has passed (read-only; the reaper decides what
-- happens to each and applies it with outcome.lua, fenced by the token and the deadline).
-- KEYS[1] running  KEYS[2] lease  KEYS[3] attempts  KEYS[4] job
-- ARGV[1] max jobs (<= 1000)
-- Returns {now, then 4 values per job: id, lease (`token|worker|claimed_at`), attempts, record}.

local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {now}
if #ids == 0 then return out end
local leases = redis.call('HMGET', KEYS[2], unpack(ids))
local attempts = redis.call('HMGET', KEYS[3], unpack(ids))
local records = redis.call('HMGET', KEYS[4], unpack(ids))
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = leases[i] or ''
  out[#out + 1] = attempts[i] or '0'
  out[#out + 1] = records[i] or ''
end
return out
