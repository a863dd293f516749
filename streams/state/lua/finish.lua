-- After Kafka acknowledged a batch's messages: forget the outboxes that were sent, then move each
-- partition's checkpoint forward.
--
-- An outbox goes only if it is exactly the one sent; a newer one (holding it and more) stays.
-- Checkpoints never move back: two workers overlapping during a rebalance may both report a
-- partition, and the older report must not undo the newer one. They move only on the Redis
-- instance the worker wrote the batch's leads to: if Redis restarted since (its run id changed),
-- those writes may be lost, and a checkpoint past them would skip their events when the worker
-- rewinds to replay them.
--
-- KEYS  with checkpoints (n > 0): the checkpoint hash first; then the outboxes sent
-- ARGV  the run id the worker knows ('' for none: no check), the number of checkpoints n, then n
--       pairs of field and next offset, then the outbox values sent, in the order of their keys
-- Returns this instance's run id; the checkpoints moved only if it is ARGV[1] (or that was '').
local n = tonumber(ARGV[2])
local first_box = n > 0 and 2 or 1
local sent_at = 3 + 2 * n
for i = first_box, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[sent_at + i - first_box] then
    redis.call('DEL', KEYS[i])
  end
end
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if n == 0 or (ARGV[1] ~= '' and ARGV[1] ~= run_id) then
  return run_id
end
for i = 3, sent_at - 1, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return run_id
