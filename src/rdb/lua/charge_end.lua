-- charge_end.lua: after a paid call (or the lookup before it) for one person. A profile is
-- stored for reuse (unless the person was erased meanwhile), and the person's pay lock is
-- released, or turned into the note that this call's answer never came (so the next job for
-- the person looks first).
-- The profile's other identifiers (BVN, NIN, account numbers it names: keyed hashes) are
-- indexed too: each `carries:<hash>` set lists the reuse entries that name it (and
-- `names:<kind>:<person>` lists those hashes), so erasing that person removes them; a profile
-- naming anyone erased meanwhile is not stored.
-- KEYS[1] reuse:<kind>:<person>  KEYS[2] paying:<kind>:<person>  KEYS[3] erased:<person>
-- KEYS[4] names:<kind>:<person>  KEYS[5] sealed (the account's marker: once a sealed profile
-- was stored, a plaintext one is not stored)
-- KEYS[6..] pairs per carried identifier: carries:<hash>, erased:<hash>
-- ARGV[1] who asks (`queue|job|token`)  ARGV[2] `paid` | `unsure` | `none`
-- ARGV[3] the value to reuse (paid)  ARGV[4] reuse window ms (0 = store nothing)
-- ARGV[5] how long an `unsure` note lasts (ms)
-- ARGV[6] the carried hashes, space-separated (the pairs' order)
-- Returns 1 if the lock was this caller's, 0 otherwise.

local me, outcome = ARGV[1], ARGV[2]
local reuse_ms, unsure_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
if not (reuse_ms and unsure_ms) or #KEYS % 2 ~= 1 then
  return redis.error_reply('charge_end: bad arguments')
end
local lock = redis.call('GET', KEYS[2])
local mine = lock == 'run|' .. me
local sealed_by = string.match(ARGV[3], '^sealed1:([^:]+):')
if outcome == 'paid' and sealed_by and redis.call('HEXISTS', KEYS[5], sealed_by) == 0 then
  redis.call('HSET', KEYS[5], sealed_by, now_ms())
end
if outcome == 'paid' and reuse_ms > 0 and redis.call('EXISTS', KEYS[3]) == 0
    and (sealed_by or redis.call('EXISTS', KEYS[5]) == 0) then
  local erased = false
  for i = 7, #KEYS, 2 do
    if redis.call('EXISTS', KEYS[i]) == 1 then erased = true end
  end
  if not erased then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', reuse_ms)
    if #KEYS > 5 then
      redis.call('SET', KEYS[4], ARGV[6], 'PX', reuse_ms)
    else
      redis.call('DEL', KEYS[4])
    end
    for i = 6, #KEYS, 2 do
      redis.call('SADD', KEYS[i], KEYS[1])
      if redis.call('PTTL', KEYS[i]) < reuse_ms then redis.call('PEXPIRE', KEYS[i], reuse_ms) end
    end
  end
end
if outcome == 'unsure' then
  if mine or not lock then redis.call('SET', KEYS[2], 'unsure|' .. me, 'PX', unsure_ms) end
elseif mine or (lock and string.sub(lock, 1, 7) == 'unsure|' and outcome == 'paid') then
  redis.call('DEL', KEYS[2])
end
if mine then return 1 end
return 0
