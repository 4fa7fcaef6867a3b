-- reseal.lua: writes values re-sealed by `okra-admin keys rekey`, each only if it is still
-- the value that was read (compare-and-set): a running job's newer write is never
-- overwritten (it was sealed with the sealing key anyway). Records how far the walk got in
-- the same step, so an interrupted rekey resumes where it stopped.
-- KEYS[1] progress hash  KEYS[2] the column hash ('h' mode; unused in 's' mode)
-- KEYS[3..] in 'h' mode, idempotency claims to move (old, new pairs); in 's' mode, the
--           string keys re-sealed (an account's reuse store), in ARGV pair order
-- ARGV[1] mode: 'h' (fields of KEYS[2]) or 's' (string keys, TTL kept)
-- ARGV[2] progress field  ARGV[3] progress value (the next cursor, or `done`)
-- 'h': then quadruples: field, value read, new value, KEYS index of the old claim to move
--      (0 = none; the new claim's name is the next KEYS entry)
-- 's': then pairs: value read, new value (for KEYS[3], KEYS[4], ...; a reuse entry's stored
--      value, without the `profile|<hashes>|` it may start with)
-- Returns {written, skipped (changed since read)}.

local mode = ARGV[1]
local per = (mode == 'h') and 4 or 2
if (mode ~= 'h' and mode ~= 's') or (#ARGV - 3) % per ~= 0 then
  return redis.error_reply('reseal: bad arguments')
end
if mode == 's' and #KEYS ~= 2 + (#ARGV - 3) / 2 then
  return redis.error_reply('reseal: one key per pair')
end
local written, skipped = 0, 0
local i, k = 4, 3
while i <= #ARGV do
  if mode == 'h' then
    local field, was, new, claim = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
    if not claim or (claim > 0 and not KEYS[claim + 1]) then
      return redis.error_reply('reseal: bad claim index')
    end
    if redis.call('HGET', KEYS[2], field) == was then
      redis.call('HSET', KEYS[2], field, new)
      written = written + 1
      if claim > 0 and redis.call('GET', KEYS[claim]) == field then
        local ttl = redis.call('PTTL', KEYS[claim])
        if ttl > 0 then
          redis.call('SET', KEYS[claim + 1], field, 'PX', ttl)
        else
          redis.call('SET', KEYS[claim + 1], field)
        end
        redis.call('DEL', KEYS[claim])
      end
    else
      skipped = skipped + 1
    end
  else
    -- A reuse entry is the bare value (the earlier layout) or `profile|<hashes>|<value>`:
    -- the value is compared and replaced, the hashes kept.
    local cur = redis.call('GET', KEYS[k])
    local head = cur and string.match(cur, '^profile|[^|]*|')
    if cur and (cur == ARGV[i] or (head and string.sub(cur, #head + 1) == ARGV[i])) then
      redis.call('SET', KEYS[k], cur == ARGV[i] and ARGV[i + 1] or head .. ARGV[i + 1], 'KEEPTTL')
      written = written + 1
    else
      skipped = skipped + 1
    end
    k = k + 1
  end
  i = i + per
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return {written, skipped}
