-- charge_end.lua: the settles a plain `SET XX GET` does not cover (src/rdb/pay_locks.rs): an
-- answer that never came, a lock released without an answer, a profile whose caller's lock
-- is no longer in the entry. Each is one step on the person's entry (`reuse:<kind>:<person>`:
-- the lock, the note, or the stored profile; see charge_begin.lua). A profile replaces the
-- caller's lock (unless the person, or anyone it names, was erased meanwhile), or the lock is
-- released, or it becomes the note that this call's answer never came (so the next job for
-- the person looks first).
-- The profile's other identifiers (BVN, NIN, account numbers it names: keyed hashes) are
-- written into the entry (`profile|<hash hash ...>|<value>`) and each `carries:<hash>` set
-- lists the entries that name it, so erasing that person removes them.
-- Storing is `SET ... GET`: the old value tells whether the lock was the caller's. Another
-- caller's lock found there (the caller's own expired and was taken) is put back (for the
-- caller's lock life) and the profile is not stored: a lock is never lost to a profile.
-- KEYS[1] sealed (the account's marker: once a sealed profile was stored, a plaintext one is
-- not stored)
-- then per entry: reuse:<kind>:<person>, erased:<person>, then a pair per carried identifier:
--   carries:<hash>, erased:<hash>
-- ARGV 7 values per entry: who asks (`queue|job|token`), `paid` | `unsure` | `none`, the entry
--   to store (paid: `profile|<carried hashes, space-separated, the pairs' order>|<value>`,
--   built by the caller so the script copies nothing), reuse window ms (0 = store nothing),
--   how long an `unsure` note lasts (ms), the lock's life (ms), the number of pairs
-- Returns one value per entry: 1 if the lock was this caller's, 0 otherwise.

local PER = 7
-- Checked whole before the first write: nothing here fails half-way.
local n = reuse_entries(PER, 7, function(b)
  local outcome = ARGV[b + 2]
  return tonumber(ARGV[b + 4]) and tonumber(ARGV[b + 5]) and tonumber(ARGV[b + 6])
    and (outcome == 'paid' or outcome == 'unsure' or outcome == 'none')
    and not (outcome == 'paid' and not string.find(ARGV[b + 3], '^profile|[^|]*|'))
end)
if not n then return redis.error_reply('charge_end: bad arguments') end
local function unsure(v) return v and string.sub(v, 1, 7) == 'unsure|' end
local out, k = {}, 2
for i = 1, n do
  local b = (i - 1) * PER
  local me, outcome, value = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local reuse_ms, unsure_ms, lock_ms = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])
  local np = tonumber(ARGV[b + 7])
  local key = KEYS[k]
  local first, last = k + 2, k + 1 + 2 * np
  local stop, sealed_by = reuse_stops(k, np, value)
  k = last + 1
  local mine = 'run|' .. me
  local was_mine, stored = false, false
  if outcome == 'paid' then
    if sealed_by and redis.call('HEXISTS', KEYS[1], sealed_by) == 0 then
      redis.call('HSET', KEYS[1], sealed_by, now_ms())
    end
    if reuse_ms > 0 then
      if redis.call('EXISTS', unpack(stop)) == 0 then
        local old = redis.call('SET', key, value, 'PX', reuse_ms, 'GET')
        was_mine, stored = old == mine, true
        if old and string.sub(old, 1, 4) == 'run|' and not was_mine then
          -- Another caller's lock: it stays, and this profile is not stored.
          redis.call('SET', key, old, 'PX', lock_ms)
          stored = false
        end
        if stored then
          for j = first, last, 2 do
            redis.call('SADD', KEYS[j], key)
            if redis.call('PTTL', KEYS[j]) < reuse_ms then redis.call('PEXPIRE', KEYS[j], reuse_ms) end
          end
        end
      end
    end
  end
  if not was_mine and not stored then
    -- Nothing stored: the caller's lock (if it is still in the entry) is released or becomes
    -- the note; a paid answer clears a note; an answer that never came leaves its note when
    -- no lock or profile is there (the caller's lock expired).
    local v = redis.call('GET', key)
    if v == mine then
      was_mine = true
      if outcome == 'unsure' then
        redis.call('SET', key, 'unsure|' .. me, 'PX', unsure_ms)
      else
        redis.call('DEL', key)
      end
    elseif outcome == 'paid' and unsure(v) then
      redis.call('DEL', key)
    elseif outcome == 'unsure' and not v then
      redis.call('SET', key, 'unsure|' .. me, 'PX', unsure_ms)
    end
  end
  out[#out + 1] = was_mine and 1 or 0
end
return out
