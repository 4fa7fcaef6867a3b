-- expired.lua: lists the jobs of claims whose deadline has passed, with what a reaper needs to
-- judge them (the reaper decides and applies with outcome.lua, fenced by the claim's token and
-- its deadline). A claim is listed whole (a reaper takes all of its jobs back or none), and an
-- expired claim none of whose jobs is still leased to it (they all finished) is removed here:
-- the only write, housekeeping. A member of `running` without a claim record (written by
-- something else) is left alone.
-- KEYS[1] running  KEYS[2] lease  KEYS[3] attempts  KEYS[4] job  KEYS[5] workers  KEYS[6] claims
-- ARGV[1] about how many jobs to list (whole claims: at least one claim)
-- Returns {now, then 7 values per job: id, its claim's token, the claim's holder
-- (`worker/loop`), deadline ms, attempts spent by finished runs, record, the holder process's
-- last stamp ms (0 = never seen)}.

local max = tonumber(ARGV[1])
if not max then return redis.error_reply('expired: non-numeric limit') end
local now = now_ms()
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
local out, listed = {now}, 0
for c = 1, #found, 2 do
  if listed >= max then break end
  local claim, deadline = found[c], found[c + 1]
  local record = redis.call('HGET', KEYS[6], claim)
  if record then
    local worker, ids_text = string.match(record, '^([^|]*)|[^|]*|(.*)$')
    local ids = {}
    for id in string.gmatch(ids_text or '', '[^ ]+') do ids[#ids + 1] = id end
    local leases = hmget_sliced(KEYS[2], ids)
    local live = {}
    for i, id in ipairs(ids) do
      if leases[i] == claim then live[#live + 1] = id end
    end
    if #live == 0 then
      redis.call('ZREM', KEYS[1], claim)
      redis.call('HDEL', KEYS[6], claim)
    else
      local holder = string.match(worker or '', '^([^/]*)') or ''
      local stamp = 0
      if holder ~= '' then stamp = tonumber(redis.call('ZSCORE', KEYS[5], holder)) or 0 end
      local attempts = hmget_sliced(KEYS[3], live)
      local records = hmget_sliced(KEYS[4], live)
      for i, id in ipairs(live) do
        out[#out + 1] = id
        out[#out + 1] = claim
        out[#out + 1] = worker
        out[#out + 1] = deadline
        out[#out + 1] = attempts[i] or '0'
        out[#out + 1] = records[i] or ''
        out[#out + 1] = stamp
      end
      listed = listed + #live
    end
  end
end
return out
