-- Move each partition's checkpoint forward, never back: two workers overlapping during a rebalance
-- may both report a partition, and the older report must not undo the newer one.
-- KEYS[1] the checkpoint hash; ARGV: field, next offset, field, next offset, ...
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
