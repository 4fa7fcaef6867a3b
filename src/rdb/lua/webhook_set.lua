-- webhook_set.lua: adds, replaces or removes one webhook endpoint of a queue and recomputes the
-- events its enabled endpoints take (`hooks_on`, which outcome.lua reads: `c` job.completed,
-- `d` job.dead, `r` job.retrying; deleted when none), in one step so they never disagree.
-- KEYS[1] hooks (id → endpoint JSON)  KEYS[2] hooks_on
-- ARGV[1] endpoint id  ARGV[2] its JSON ('' with ARGV[3] = 'delete')
-- ARGV[3] 'add' (new id), 'update' (only if it still holds ARGV[4]), 'delete'
-- ARGV[4] with 'update': the JSON the new one was made from (compare-and-set)
-- Returns 1 when the endpoint existed before (add: 0), 0 otherwise (update and delete then
-- write nothing), 2 when 'update' found it changed since it was read (nothing written).
local was = redis.call('HGET', KEYS[1], ARGV[1])
local existed = was and 1 or 0
local mode = ARGV[3]
if mode == 'add' then
  if existed == 1 then return redis.error_reply('webhook_set: id taken') end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
elseif existed == 0 then
  return 0
elseif mode == 'update' then
  if was ~= ARGV[4] then return 2 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
elseif mode == 'delete' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  return redis.error_reply('webhook_set: bad mode')
end
local letters = {['job.completed'] = 'c', ['job.dead'] = 'd', ['job.retrying'] = 'r'}
local on = {}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local ok, e = pcall(cjson.decode, v)
  if ok and type(e) == 'table' and (e.disabled == nil or e.disabled == cjson.null)
      and type(e.events) == 'table' then
    for _, name in ipairs(e.events) do
      if letters[name] then on[letters[name]] = true end
    end
  end
end
local s = ''
for _, l in ipairs({'c', 'd', 'r'}) do
  if on[l] then s = s .. l end
end
if s == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], s) end
return existed
