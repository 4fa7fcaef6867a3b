-- charge_end.lua: after paid calls (or the lookups before them), for a batch of jobs of one
-- account (gathered as charge_begin's are), each in one step. A profile is stored for reuse
-- (unless the person was erased meanwhile), and the person's pay lock is released, or turned
-- into the note that this call's answer never came (so the next job for the person looks
-- first).
-- The profile's other identifiers (BVN, NIN, account numbers it names: keyed hashes) are
-- indexed too: each `carries:<hash>` set lists the reuse entries that name it (and
-- `names:<kind>:<person>` lists those hashes), so erasing that person removes them; a profile
-- naming anyone erased meanwhile is not stored.
-- KEYS[1] sealed (the account's marker: once a sealed profile was stored, a plaintext one is
-- not stored)
-- then per entry: reuse:<kind>:<person>, paying:<kind>:<person>, erased:<person>,
--   names:<kind>:<person>, then a pair per carried identifier: carries:<hash>, erased:<hash>
-- ARGV 7 values per entry: who asks (`queue|job|token`), `paid` | `unsure` | `none`, the value
--   to reuse (paid), reuse window ms (0 = store nothing), how long an `unsure` note lasts (ms),
--   the carried hashes (space-separated, the pairs' order), the number of pairs
-- Returns one value per entry: 1 if the lock was this caller's, 0 otherwise.
-- The common case (a profile naming one other identifier) is eight commands: GET, one EXISTS
-- for every tombstone, SET, SET, SADD, PTTL, PEXPIRE (a new set), DEL.

local PER = 7
local n = #ARGV / PER
if n ~= math.floor(n) then return redis.error_reply('charge_end: bad arguments') end
-- Checked whole before the first write: nothing here fails half-way.
local keys_used = 1
for i = 1, n do
  local b = (i - 1) * PER
  local np = tonumber(ARGV[b + 7])
  if not (tonumber(ARGV[b + 4]) and tonumber(ARGV[b + 5]) and np) then
    return redis.error_reply('charge_end: bad arguments')
  end
  keys_used = keys_used + 4 + 2 * np
end
if keys_used ~= #KEYS then return redis.error_reply('charge_end: bad arguments') end
local out, k = {}, 2
for i = 1, n do
  local b = (i - 1) * PER
  local me, outcome, value = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local reuse_ms, unsure_ms, np = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5]), tonumber(ARGV[b + 7])
  local reuse_key, lock_key, erased_key, names_key = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local first, last = k + 4, k + 3 + 2 * np
  k = last + 1
  local lock = redis.call('GET', lock_key)
  local mine = lock == 'run|' .. me
  if outcome == 'paid' then
    local sealed_by = string.match(value, '^sealed1:([^:]+):')
    if sealed_by and redis.call('HEXISTS', KEYS[1], sealed_by) == 0 then
      redis.call('HSET', KEYS[1], sealed_by, now_ms())
    end
    if reuse_ms > 0 then
      -- Every tombstone (the person's, each carried one's) and, for a plaintext profile, the
      -- account's sealed marker: one EXISTS.
      local stop = {erased_key}
      for j = first + 1, last, 2 do stop[#stop + 1] = KEYS[j] end
      if not sealed_by then stop[#stop + 1] = KEYS[1] end
      if redis.call('EXISTS', unpack(stop)) == 0 then
        redis.call('SET', reuse_key, value, 'PX', reuse_ms)
        if np > 0 then
          redis.call('SET', names_key, ARGV[b + 6], 'PX', reuse_ms)
        else
          redis.call('DEL', names_key)
        end
        for j = first, last, 2 do
          redis.call('SADD', KEYS[j], reuse_key)
          if redis.call('PTTL', KEYS[j]) < reuse_ms then redis.call('PEXPIRE', KEYS[j], reuse_ms) end
        end
      end
    end
  end
  if outcome == 'unsure' then
    if mine or not lock then redis.call('SET', lock_key, 'unsure|' .. me, 'PX', unsure_ms) end
  elseif mine or (lock and string.sub(lock, 1, 7) == 'unsure|' and outcome == 'paid') then
    redis.call('DEL', lock_key)
  end
  out[#out + 1] = mine and 1 or 0
end
return out
