-- charge_begin.lua: before a paid call for one person, in one step: a profile the account
-- already paid for within the reuse window is handed over; a paid call already in flight for
-- the person makes the caller wait for its answer; otherwise the caller takes the person's pay
-- lock (and is told to look first when the last paid call for the person got no answer).
-- KEYS[1] reuse:<kind>:<person>  KEYS[2] paying:<kind>:<person>
-- ARGV[1] who asks (`queue|job|token`)  ARGV[2] lock ms (the longest a paid call can take)
-- ARGV[3] 1 = a stored profile may be reused (0: a fresh job)
-- Returns {'reuse', stored value} | {'wait', ms the lock has left} | {'go', 1 = look first}

local me, lock_ms = ARGV[1], tonumber(ARGV[2])
if not lock_ms then return redis.error_reply('charge_begin: non-numeric lock') end
if ARGV[3] == '1' then
  local stored = redis.call('GET', KEYS[1])
  if stored then return {'reuse', stored} end
end
local lock = redis.call('GET', KEYS[2])
if lock and string.sub(lock, 1, 4) == 'run|' and lock ~= 'run|' .. me then
  return {'wait', math.max(redis.call('PTTL', KEYS[2]), 1)}
end
local look = 0
if lock and string.sub(lock, 1, 7) == 'unsure|' then look = 1 end
redis.call('SET', KEYS[2], 'run|' .. me, 'PX', lock_ms)
return {'go', look}
