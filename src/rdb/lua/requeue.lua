-- requeue.lua: sends dead letters back to work with a fresh attempt budget (history is kept).
-- Each id is requeued only if it is still dead, so a chunk applies at most once.
-- KEYS[1] dead     KEYS[2] dead_index  KEYS[3] dindex   KEYS[4] scheduled  KEYS[5] ready
-- KEYS[6] attempts KEYS[7] job         KEYS[8] history  KEYS[9] stats      KEYS[10] wake
-- ARGV[1] delay ms  ARGV[2] run-at ms (0 = use the delay)  ARGV[3] history cap
-- ARGV[4] history entry (JSON object minus its `{`), then the ids
-- Returns the ids requeued.

local now = now_ms()
local due = now + tonumber(ARGV[1])
if tonumber(ARGV[2]) > 0 then due = tonumber(ARGV[2]) end
local cap = tonumber(ARGV[3])
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  if undead(KEYS[1], KEYS[2], KEYS[3], id) == 1 then
    out[#out + 1] = id
    redis.call('HSET', KEYS[6], id, 0)
    local record = redis.call('HGET', KEYS[7], id)
    local nl = record and string.find(record, '\n', 1, true)
    if nl then
      local meta = cjson.decode(string.sub(record, 1, nl - 1))
      meta['window_start'] = now
      meta['requeues'] = (tonumber(meta['requeues']) or 0) + 1
      redis.call('HSET', KEYS[7], id, cjson.encode(meta) .. string.sub(record, nl))
    end
    append_history(KEYS[8], id, ARGV[4], now, cap)
    if due > now then
      redis.call('ZADD', KEYS[4], due, id)
    else
      redis.call('LPUSH', KEYS[5], id)
    end
  end
end
if #out > 0 then
  redis.call('HINCRBY', KEYS[9], 'requeued', #out)
  wake(KEYS[10])
end
return out
