-- cancel.lua: cancels a job that has not started. A ready or scheduled job leaves its list, is
-- recorded as cancelled (kept like a finished job until the completed retention ends) and its
-- idempotency key, if it still names this job, is released so the work can be enqueued again.
-- Nothing is written unless the job is ready or scheduled.
-- KEYS[1] ready   KEYS[2] scheduled  KEYS[3] job      KEYS[4] lease    KEYS[5] dead
-- KEYS[6] result  KEYS[7] cancelled  KEYS[8] completed KEYS[9] history KEYS[10] stats
-- KEYS[11] events KEYS[12] the job's idempotency key (optional)
-- ARGV[1] job id  ARGV[2] history cap  ARGV[3] history entry (JSON object minus its `{`)
-- ARGV[4] events kept (0 = no events)
-- Returns `ok`, or why not: `unknown`, `running`, `dead`, `completed`, `cancelled`.

local id, cap, entry, events = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if not (cap and events) then return redis.error_reply('cancel: non-numeric argument') end
local record = redis.call('HGET', KEYS[3], id)
if not record then return 'unknown' end
if redis.call('HEXISTS', KEYS[4], id) == 1 then return 'running' end
if redis.call('ZSCORE', KEYS[5], id) then return 'dead' end
if redis.call('HEXISTS', KEYS[7], id) == 1 then return 'cancelled' end
if redis.call('HEXISTS', KEYS[6], id) == 1 then return 'completed' end

local now = now_ms()
if redis.call('ZREM', KEYS[2], id) == 0 then redis.call('LREM', KEYS[1], 1, id) end
redis.call('HSET', KEYS[7], id, now)
redis.call('RPUSH', KEYS[8], string.format('%015.0f', now) .. '|' .. id)
append_history(KEYS[9], id, entry, now, cap)
redis.call('HINCRBY', KEYS[10], 'cancelled', 1)
emit(KEYS[11], events, 'cancelled', 1, id, record_kind(record), '', '0')
if KEYS[12] and redis.call('GET', KEYS[12]) == id then redis.call('DEL', KEYS[12]) end
return 'ok'
