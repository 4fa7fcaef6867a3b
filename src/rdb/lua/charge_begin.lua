-- charge_begin.lua: before paid calls, for a batch of jobs of one account (a worker gathers
-- the jobs that begin while its last call is in flight: one round trip for all of them), each
-- in one step: a profile the account already paid for within the reuse window is handed over;
-- a paid call already in flight for the person makes the caller wait for its answer; otherwise
-- the caller takes the person's pay lock (and is told to look first when the last paid call
-- for the person got no answer). Entries run in order, so two jobs for one person in one batch
-- make one paid call: the second waits.
-- KEYS pairs per entry: reuse:<kind>:<person>, paying:<kind>:<person>
-- ARGV triples per entry: who asks (`queue|job|token`), lock ms (the longest a paid call can
-- take), 1 = a stored profile may be reused (0: a fresh job)
-- Returns two values per entry: 'reuse', stored value | 'wait', ms the lock has left |
-- 'go', 1 = look first.
-- The common case (no profile, no lock) is two commands: GET, SET NX.

local n = #KEYS / 2
if n ~= math.floor(n) or #ARGV ~= 3 * n then
  return redis.error_reply('charge_begin: bad arguments')
end
local out = {}
for i = 1, n do
  local reuse_key, lock_key = KEYS[2 * i - 1], KEYS[2 * i]
  local me, lock_ms, reuse = ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  if not lock_ms then return redis.error_reply('charge_begin: non-numeric lock') end
  local stored = reuse == '1' and redis.call('GET', reuse_key)
  local mine = 'run|' .. me
  if stored then
    out[#out + 1] = 'reuse'; out[#out + 1] = stored
  elseif redis.call('SET', lock_key, mine, 'NX', 'PX', lock_ms) then
    out[#out + 1] = 'go'; out[#out + 1] = 0
  else
    local lock = redis.call('GET', lock_key)
    if lock and string.sub(lock, 1, 4) == 'run|' and lock ~= mine then
      out[#out + 1] = 'wait'; out[#out + 1] = math.max(redis.call('PTTL', lock_key), 1)
    else
      local look = 0
      if lock and string.sub(lock, 1, 7) == 'unsure|' then look = 1 end
      redis.call('SET', lock_key, mine, 'PX', lock_ms)
      out[#out + 1] = 'go'; out[#out + 1] = look
    end
  end
end
return out
