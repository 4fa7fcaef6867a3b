-- requeue.lua: sends dead letters back to work with a fresh attempt budget (history is kept).
-- Each id is requeued only if it is still dead, so a chunk applies at most once. Every letter
-- is checked before the first write: one whose record is missing or whose metadata does not
-- decode stays dead, untouched, and is returned as skipped.
-- KEYS[1] dead     KEYS[2] dead_index  KEYS[3] dindex   KEYS[4] scheduled  KEYS[5] ready
-- KEYS[6] attempts KEYS[7] job         KEYS[8] history  KEYS[9] stats      KEYS[10] wake
-- KEYS[11] sched    KEYS[12] events
-- ARGV[1] delay ms  ARGV[2] run-at ms (0 = use the delay)  ARGV[3] history cap
-- ARGV[4] history entry (JSON object minus its `{`)  ARGV[5] events kept (0 = no events),
-- then the ids
-- Returns {requeued ids, skipped ids}.

local delay, at, cap, events = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
if not (delay and at and cap and events) then return redis.error_reply('requeue: non-numeric argument') end
local now = now_ms()
local due = due_time(now, delay, at)

local todo, skipped = {}, {}
for i = 6, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then
    local record = redis.call('HGET', KEYS[7], id)
    local nl = record and string.find(record, '\n', 1, true)
    local ok, meta = false, nil
    if nl then ok, meta = pcall(cjson.decode, string.sub(record, 1, nl - 1)) end
    if ok and type(meta) == 'table' then
      meta['window_start'] = now
      meta['due_at'] = math.max(due, now)
      meta['requeues'] = (tonumber(meta['requeues']) or 0) + 1
      todo[#todo + 1] = {id = id, record = cjson.encode(meta) .. string.sub(record, nl),
        kind = tostring(meta['kind'] or '')}
    else
      skipped[#skipped + 1] = id
    end
  end
end

local out, kinds = {}, {}
for _, t in ipairs(todo) do
  undead(KEYS[1], KEYS[2], KEYS[3], t.id)
  out[#out + 1] = t.id
  kinds[#kinds + 1] = t.kind
  redis.call('HSET', KEYS[6], t.id, 0)
  redis.call('HSET', KEYS[7], t.id, t.record)
  append_history(KEYS[8], t.id, ARGV[4], now, cap)
  if due > now then
    schedule(KEYS[4], KEYS[11], {due, t.id})
  else
    redis.call('LPUSH', KEYS[5], t.id)
  end
end
emit(KEYS[12], events, 'requeued', #out, table.concat(out, ' '), joined(kinds), '', '0')
if #out > 0 then
  redis.call('HINCRBY', KEYS[9], 'requeued', #out)
  wake(KEYS[10])
end
return {out, skipped}
