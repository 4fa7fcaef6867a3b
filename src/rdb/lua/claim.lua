-- claim.lua: claims up to N ready jobs for one worker under one lease: one fencing token for
-- the call (the claim), one deadline for the claim in `running`, one record of who holds it
-- and which jobs in `claims`, and each job's lease in `lease` naming the claim's token. A
-- claim costs a few writes, not a few per job; outcomes are fenced per job by the token.
-- The attempt is counted from here: `attempts` holds what finished runs spent, and a leased
-- job's current attempt is one more, so a job that kills its worker still spends it (the
-- reaper writes it) without a write per claim.
-- An id in `ready` without a record (an orphan: written by a foreign tool, or its record was
-- trimmed) is dropped, counted under `orphans` and returned so the worker logs it.
-- KEYS[1] ready     KEYS[2] running   KEYS[3] scheduled  KEYS[4] job    KEYS[5] attempts
-- KEYS[6] lease     KEYS[7] error     KEYS[8] paused     KEYS[9] throttle
-- KEYS[10] rate     KEYS[11] seq      KEYS[12] wake      KEYS[13] stats   KEYS[14] claims
-- ARGV[1] max jobs (<= 1000)  ARGV[2] lease ms  ARGV[3] worker id
-- ARGV[4] rate limit per window (0 = none)  ARGV[5] rate window ms  ARGV[6] max due jobs to promote
-- Returns {'paused', 0} | {'throttled', ms to wait} | {'empty', 0} |
--         {'ok', now, the claim's token, job count,
--          then 4 values per job: id, attempt, record, last failure ('' when there is none,
--          0 for a job that never ran), then the orphan ids}

local want, lease_ms, worker = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local limit, window, promote_max = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if not (want and lease_ms and limit and window and promote_max) then
  return redis.error_reply('claim: non-numeric argument')
end
local now = now_ms()
if redis.call('EXISTS', KEYS[8]) == 1 then return {'paused', 0} end
local pttl = redis.call('PTTL', KEYS[9])
if pttl > 0 then return {'throttled', pttl} end
promote(KEYS[3], KEYS[1], KEYS[12], now, promote_max)

if redis.call('LLEN', KEYS[1]) == 0 then return {'empty', 0} end
local count, wait = rate_take(KEYS[10], now, limit, window, want)
if count == 0 then return {'throttled', wait} end

local ids = redis.call('RPOP', KEYS[1], count)
if not ids then return {'empty', 0} end
local token = redis.call('INCR', KEYS[11])
local t = tostring(token)
local records = redis.call('HMGET', KEYS[4], unpack(ids))
local spent = redis.call('HMGET', KEYS[5], unpack(ids))
-- The reply is built as the jobs are read: 4 header values, then 4 per job.
local jobs, orphans, leases, held, rate = {'ok', now, token, 0}, {}, {}, {}, {}
for i, id in ipairs(ids) do
  if records[i] then
    -- A job that ran before (its attempts field exists, even at 0 after a requeue, a refund
    -- or a release) gets its last failure: it may say the last attempt's charge is uncertain.
    local last_error, attempt = 0, 1
    if spent[i] then
      last_error = redis.call('HGET', KEYS[7], id) or ''
      attempt = (tonumber(spent[i]) or 0) + 1
    end
    leases[#leases + 1] = id; leases[#leases + 1] = t
    held[#held + 1] = id
    if limit > 0 then rate[#rate + 1] = now; rate[#rate + 1] = t .. '.' .. #held end
    jobs[#jobs + 1] = id
    jobs[#jobs + 1] = attempt
    jobs[#jobs + 1] = records[i]
    jobs[#jobs + 1] = last_error
  else
    orphans[#orphans + 1] = id
  end
end
if #held > 0 then
  call_sliced('HSET', KEYS[6], leases, 2)
  redis.call('ZADD', KEYS[2], now + lease_ms, t)
  redis.call('HSET', KEYS[14], t, worker .. '|' .. now .. '|' .. table.concat(held, ' '))
  if limit > 0 then call_sliced('ZADD', KEYS[10], rate, 2) end
end
if #orphans > 0 then redis.call('HINCRBY', KEYS[13], 'orphans', #orphans) end
if redis.call('LLEN', KEYS[1]) > 0 then wake(KEYS[12]) end
jobs[4] = (#jobs - 4) / 4
for _, id in ipairs(orphans) do jobs[#jobs + 1] = id end
return jobs
