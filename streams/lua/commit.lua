-- Write one lead's new record if nobody changed it since it was read (compare-and-set on the
-- version that starts the record). Touches only the lead's own keys, which share a hash tag, so
-- it is valid on Redis Cluster.
--
-- KEYS[1] the lead's record        KEYS[2] the lead's outbox
-- ARGV[1] version read ('0' for a new lead)
-- ARGV[2] the new record (starting with the next version)
-- ARGV[3] the outbox to keep until Kafka acknowledges it, or '' for none
-- Returns 1, or 0 when the lead changed under us.
local current = redis.call('GET', KEYS[1])
local version = current and string.match(current, '^(%d+)\n') or '0'
if version ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] == '' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1
