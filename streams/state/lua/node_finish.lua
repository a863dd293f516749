#!lua flags=allow-cross-slot-keys
-- On Redis Cluster: finish.lua for one node, whatever the slots of its keys, in one call: forget
-- the outboxes that were sent, then move this node's checkpoints forward, only if the node is the
-- instance the worker wrote the batch's leads to (the run id it knows; '' for none: no check).
-- Every key is read before anything is written, so a key this node does not serve fails the call
-- whole and the caller falls back to one call per slot.
--
-- ARGV  the run id known, the number of checkpoints n, n pairs of field and next offset, the
--       number of checkpoint keys c, the c keys, then m outbox keys and the m values sent
-- Returns this instance's run id.
local n = tonumber(ARGV[2])
local pairs_end = 3 + 2 * n
local c = tonumber(ARGV[pairs_end])
local first_key = pairs_end + 1
local first_box = first_key + c
local m = (#ARGV - first_box + 1) / 2
for i = first_key, first_box + m - 1 do
  redis.call('EXISTS', ARGV[i])
end
for i = 0, m - 1 do
  if redis.call('GET', ARGV[first_box + i]) == ARGV[first_box + m + i] then
    redis.call('DEL', ARGV[first_box + i])
  end
end
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if n == 0 or (ARGV[1] ~= '' and ARGV[1] ~= run_id) then
  return run_id
end
for k = first_key, first_box - 1 do
  for i = 3, pairs_end - 1, 2 do
    local current = tonumber(redis.call('HGET', ARGV[k], ARGV[i]) or '-1')
    if tonumber(ARGV[i + 1]) > current then
      redis.call('HSET', ARGV[k], ARGV[i], ARGV[i + 1])
    end
  end
end
return run_id
