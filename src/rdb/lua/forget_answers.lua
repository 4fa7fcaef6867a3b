-- forget_answers.lua: drops Okra's answer (the `body` excerpt) from the failure of dead letters
-- that died more than the retention ago, keeping their class, status and history. A cursor
-- (the last time of death handled) makes each pass start where the last one stopped. Letters
-- that died in the same millisecond (a batch) are handled together, so the cursor always moves.
-- KEYS[1] dead  KEYS[2] error  KEYS[3] answers (the cursor, ms)
-- ARGV[1] retention ms (0 = keep answers)  ARGV[2] letters per pass
-- Returns {answers dropped, 1 if more may be waiting}.

local retention, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if not (retention and limit) then return redis.error_reply('forget_answers: non-numeric argument') end
if retention <= 0 then return {0, 0} end
local cutoff = now_ms() - retention
local from = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
if from >= cutoff then return {0, 0} end
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. from, cutoff, 'WITHSCORES', 'LIMIT', 0, limit)
local ids, last = {}, cutoff
for i = 1, #found, 2 do ids[#ids + 1] = found[i] end
local full = #ids >= limit
if full then
  last = tonumber(found[#found])
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], last, last)) do ids[#ids + 1] = id end
end
local dropped = 0
for _, id in ipairs(ids) do
  local text = redis.call('HGET', KEYS[2], id)
  if text then
    local ok, f = pcall(cjson.decode, text)
    if ok and type(f) == 'table' and f['body'] ~= nil then
      f['body'] = nil
      redis.call('HSET', KEYS[2], id, cjson.encode(f))
      dropped = dropped + 1
    end
  end
end
redis.call('SET', KEYS[3], string.format('%.0f', last))
if full then return {dropped, 1} end
return {dropped, 0}
