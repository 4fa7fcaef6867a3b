-- claim.lua: claims up to N ready jobs for one worker, each with a lease and a fencing token.
-- The attempt is counted here, at claim time, so a job that kills its worker still spends it.
-- KEYS[1] ready   KEYS[2] running  KEYS[3] scheduled  KEYS[4] payload  KEYS[5] meta
-- KEYS[6] attempts KEYS[7] state   KEYS[8] lease      KEYS[9] error    KEYS[10] paused
-- KEYS[11] throttle KEYS[12] rate  KEYS[13] seq       KEYS[14] wake
-- ARGV[1] max jobs (<= 1000)  ARGV[2] lease ms  ARGV[3] worker id
-- ARGV[4] rate limit per window (0 = none)  ARGV[5] rate window ms  ARGV[6] max due jobs to promote
-- Returns {'paused', 0} | {'throttled', ms to wait} | {'empty', 0} |
--         {'ok', now, then 6 values per job: id, token, attempts, payload, meta, last error}

local now = now_ms()
if redis.call('EXISTS', KEYS[10]) == 1 then return {'paused', 0} end
local pttl = redis.call('PTTL', KEYS[11])
if pttl > 0 then return {'throttled', pttl} end
promote(KEYS[3], KEYS[1], KEYS[7], KEYS[14], now, tonumber(ARGV[6]))

local want = tonumber(ARGV[1])
local limit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
if redis.call('LLEN', KEYS[1]) == 0 then return {'empty', 0} end
local count, wait = rate_take(KEYS[12], now, limit, window, want)
if count == 0 then return {'throttled', wait} end

local ids = redis.call('RPOP', KEYS[1], count)
if not ids then return {'empty', 0} end
local n = #ids
local first = redis.call('INCRBY', KEYS[13], n) - n + 1
local deadline = now + tonumber(ARGV[2])
local worker = ARGV[3]
local payloads = redis.call('HMGET', KEYS[4], unpack(ids))
local metas = redis.call('HMGET', KEYS[5], unpack(ids))
local errors = redis.call('HMGET', KEYS[9], unpack(ids))
local out, leases, states, running, rate = {'ok', now}, {}, {}, {}, {}
for i, id in ipairs(ids) do
  if payloads[i] then
    local token = first + i - 1
    local attempts = redis.call('HINCRBY', KEYS[6], id, 1)
    leases[#leases + 1] = id; leases[#leases + 1] = token .. '|' .. worker .. '|' .. now
    states[#states + 1] = id; states[#states + 1] = 'running'
    running[#running + 1] = deadline; running[#running + 1] = id
    rate[#rate + 1] = now; rate[#rate + 1] = token
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = attempts
    out[#out + 1] = payloads[i]
    out[#out + 1] = metas[i] or ''
    out[#out + 1] = errors[i] or ''
  end
end
if #running > 0 then
  call_sliced('HSET', KEYS[8], leases, 2)
  call_sliced('HSET', KEYS[7], states, 2)
  call_sliced('ZADD', KEYS[2], running, 2)
  if limit > 0 then call_sliced('ZADD', KEYS[12], rate, 2) end
end
if redis.call('LLEN', KEYS[1]) > 0 then wake(KEYS[14]) end
return out
