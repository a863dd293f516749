#!lua flags=no-writes,allow-cross-slot-keys
-- On Redis Cluster: the values of keys that all live on this node, whatever their slots, in one
-- call (a per-slot MGET would be one command per lead). A key this node does not serve fails the
-- call, and the caller falls back to one command per slot.
--
-- ARGV  the keys
local values = {}
for i = 1, #ARGV do
  values[i] = redis.call('GET', ARGV[i])
end
return values
