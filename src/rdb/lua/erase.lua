-- erase.lua: erases the jobs of one person (the ids the identity index lists under their keyed
-- hash): every column of each job, its place in the lists and sets, its dead-letter index
-- entries, its identity-index entry and its idempotency claim (if the claim still names it).
-- A running job loses its lease and is noted in `erased`, so its outcome, when it arrives,
-- writes nothing back (outcome.lua). Notes older than a day (a worker that died meanwhile)
-- are dropped here. With the dry-run flag nothing is written; the counts are what would go.
-- KEYS[1] ident  KEYS[2] ready  KEYS[3] scheduled  KEYS[4] running  KEYS[5] dead
-- KEYS[6] dead_index  KEYS[7] erased  KEYS[8] stats
-- KEYS[9..16] the eight job column hashes, in keys.rs `job_columns` order (job first, dindex last)
-- KEYS[17..] idempotency claims of the jobs (as named in their records)
-- ARGV[1] 1 = dry run  ARGV[2] the person's keyed hash
-- then pairs: job id, KEYS index of its idempotency claim (0 = none)
-- Returns {ready, scheduled, running, completed, cancelled, dead, claims, index entries}.

local dry, hash = ARGV[1] == '1', ARGV[2]
if (#ARGV - 2) % 2 ~= 0 or not string.match(hash, '^%x+$') then
  return redis.error_reply('erase: bad arguments')
end
local JOB, LEASE, RESULT, CANCELLED = 9, 11, 13, 15
local counts = {0, 0, 0, 0, 0, 0, 0, 0}
local READY, SCHEDULED, RUNNING, COMPLETED, CANCEL, DEAD, CLAIMS, INDEX = 1, 2, 3, 4, 5, 6, 7, 8
local now = now_ms()
local gone = {}
for i = 3, #ARGV, 2 do
  local id, claim = ARGV[i], tonumber(ARGV[i + 1])
  if not claim or (claim > 0 and not KEYS[claim]) then return redis.error_reply('erase: bad claim index') end
  local member = hash .. '|' .. id
  if redis.call('ZSCORE', KEYS[1], member) then
    counts[INDEX] = counts[INDEX] + 1
    if not dry then redis.call('ZREM', KEYS[1], member) end
  end
  if redis.call('HEXISTS', KEYS[JOB], id) == 1 then
    local state
    if redis.call('HEXISTS', KEYS[LEASE], id) == 1 then
      state = RUNNING
    elseif redis.call('ZSCORE', KEYS[5], id) then
      state = DEAD
    elseif redis.call('ZSCORE', KEYS[3], id) then
      state = SCHEDULED
    elseif redis.call('HEXISTS', KEYS[CANCELLED], id) == 1 then
      state = CANCEL
    elseif redis.call('HEXISTS', KEYS[RESULT], id) == 1 then
      state = COMPLETED
    else
      state = READY
    end
    counts[state] = counts[state] + 1
    if claim > 0 and redis.call('GET', KEYS[claim]) == id then
      counts[CLAIMS] = counts[CLAIMS] + 1
      if not dry then redis.call('DEL', KEYS[claim]) end
    end
    if not dry then
      if state == RUNNING then
        -- Its lease goes with the columns; its claim expires with the claim's other jobs.
        redis.call('HSET', KEYS[7], id, now)
      elseif state == DEAD then
        undead(KEYS[5], KEYS[6], KEYS[16], id)
      elseif state == SCHEDULED then
        redis.call('ZREM', KEYS[3], id)
      elseif state == READY then
        redis.call('LREM', KEYS[2], 0, id)
      end
      gone[#gone + 1] = id
    end
  end
end
if #gone > 0 then
  -- Their other index entries (the identifiers their answers carried) go with them.
  unindex(KEYS[1], KEYS[JOB], gone)
  delete_columns(9, gone)
  redis.call('HINCRBY', KEYS[8], 'erased', #gone)
end
if not dry then
  local notes = redis.call('HGETALL', KEYS[7])
  for i = 1, #notes, 2 do
    if now - (tonumber(notes[i + 1]) or 0) > 86400000 then redis.call('HDEL', KEYS[7], notes[i]) end
  end
end
return counts
